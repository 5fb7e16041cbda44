"""Product documentation: loading passages and retrieving the ones a ticket needs (TF-IDF)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenario_pack.core.data import jsonl
from scenario_pack.core.errors import DataError, DataIssue, data_error

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}


@dataclass(frozen=True)
class Passage:
    title: str
    text: str
    source: str


def _split_markdown(text: str, source: str) -> list[Passage]:
    """One passage per `##` section (a file without sections is one passage), titled by its headings."""
    doc_title = ""
    passages, title, body = [], "", []
    for line in text.splitlines():
        if line.startswith("# "):
            doc_title = line[2:].strip()
        elif line.startswith("## "):
            if body:
                passages.append((title, body))
            title, body = line[3:].strip(), []
        elif line.strip():
            body.append(line.strip())
    if body:
        passages.append((title, body))
    return [
        Passage(" - ".join(t for t in (doc_title, head) if t) or Path(source).stem, " ".join(lines), source)
        for head, lines in passages
    ]


def _read_jsonl(path: Path) -> list[Passage]:
    passages: list[Passage] = []
    issues: list[DataIssue] = []
    for number, item in jsonl.values(path, path.read_text(encoding="utf-8"), "Fix this line.", issues):
        if not isinstance(item, dict) or not str(item.get("text", "")).strip():
            issues.append(
                DataIssue(
                    str(path),
                    number,
                    "text",
                    "missing or empty",
                    'Each docs line needs {"text": ..., "title": ...}.',
                )
            )
            continue
        passages.append(
            Passage(str(item.get("title", path.stem)), str(item["text"]).strip(), f"{path}:{number}")
        )
    if issues:
        raise DataError(issues)
    return passages


def load_docs(location: Path) -> list[Passage]:
    """Read a docs folder or file (.md/.txt split by sections, .jsonl with a text field)."""
    if not location.exists():
        raise data_error(
            location, None, None, "docs path not found", "Pass an existing folder or file to --docs."
        )
    files = sorted(p for p in location.rglob("*") if p.is_file()) if location.is_dir() else [location]
    passages: list[Passage] = []
    for path in files:
        suffix = path.suffix.lower()
        try:
            if suffix in TEXT_SUFFIXES:
                passages.extend(_split_markdown(path.read_text(encoding="utf-8"), str(path)))
            elif suffix == ".jsonl":
                passages.extend(_read_jsonl(path))
        except UnicodeDecodeError as exc:
            raise data_error(path, None, None, "not UTF-8 text", "Re-save it as UTF-8.") from exc
    if not passages:
        raise data_error(
            location,
            None,
            None,
            "no readable documentation text found",
            "Give .md, .txt or .jsonl files with text in them.",
        )
    return passages


class Retriever:
    """TF-IDF over passages (title + text), cosine similarity to the ticket."""

    def __init__(self, passages: list[Passage]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.passages = passages
        self.vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, ngram_range=(1, 2))
        self.matrix = self.vectorizer.fit_transform(f"{p.title} {p.text}" for p in passages)
        self._cache: dict[str, list[Passage]] = {}

    def search(self, query: str, k: int) -> list[Passage]:
        key = f"{k}\x00{query}"
        if key not in self._cache:
            scores = (self.matrix @ self.vectorizer.transform([query]).T).toarray().ravel()
            best = scores.argsort()[::-1][:k]
            self._cache[key] = [self.passages[i] for i in best if scores[i] > 0]
        return self._cache[key]


def clip_words(text: str, limit: int) -> str:
    words = text.split()
    return text if len(words) <= limit else " ".join(words[:limit]) + " ..."


def tokens(text: str) -> list[str]:
    return re.findall(r"\$?\d+(?:[.,:/-]\d+)*%?|[a-z][a-z'-]*", text.lower())


def summary(passages: list[Passage], location: Any) -> dict[str, Any]:
    return {"docs": str(location), "passages": len(passages), "files": len({p.source for p in passages})}
