"""Posts an importer read, made into content rows: keywords and a brief where the post has none,
then the scenario's checks and its platform rules, so a row that breaks them is skipped, not learned.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from scenario_pack.core.data.importing import ImportResult, Skip

from . import rules

BRIEF_KEYS = ("brief", "description", "summary", "excerpt")
KEYWORDS_PER_POST = 3
Posts = list[tuple[str, dict[str, Any]]]  # (where in the source, row)


def finish(
    posts: Posts,
    options: dict[str, Any],
    result: ImportResult,
    select: Callable[[Posts], Posts] | None = None,
) -> None:
    """Keywords and brief where missing, the scenario's checks, then `select` (e.g. the best by
    engagement); the rows left go into result, with notes on what was made up for them."""
    from . import scenario  # imported here: the package imports this module for importers=

    hashtagged: set[int] = set()  # ids of the rows whose keywords or brief were made up here
    extracted: set[int] = set()
    briefed: set[int] = set()
    for _, row in posts:
        tags = list(dict.fromkeys(tag.lstrip("#") for tag in rules.HASHTAG.findall(row["text"])))
        if not row["keywords"] and tags:
            row["keywords"] = tags
            hashtagged.add(id(row))
    bare = [row for _, row in posts if not row["keywords"] and row["text"]]
    for row, found in zip(bare, extract_keywords([r["text"] for _, r in posts], bare), strict=True):
        row["keywords"] = found
        extracted.add(id(row))
    path = rules.rules_path(options.get("rules"))
    rule_set = rules.load(path)
    kept = []
    for where, row in posts:
        title = row.pop("title")
        if not row["brief"] and (title or row["keywords"]):
            row["brief"] = _brief(row, title)
            briefed.add(id(row))
        reason = _problem(row, rule_set, path, scenario.check_row(row))
        if reason:
            result.skipped.append(Skip(reason, where))
            continue
        for name in [name for name, value in row.items() if value in (None, [])]:
            del row[name]
        kept.append((where, row))
    result.rows = [row for _, row in (select(kept) if select else kept)]
    made = {
        name: [row for row in result.rows if id(row) in ids]
        for name, ids in (("hashtags", hashtagged), ("tf-idf", extracted), ("brief", briefed))
    }
    if made["hashtags"]:
        result.notes.append(
            f"keywords: {_posts(len(made['hashtags']))} without tags took their own hashtags."
        )
    if made["tf-idf"]:
        result.notes.append(
            f"keywords: {_posts(len(made['tf-idf']))} without tags or hashtags took their "
            f"{KEYWORDS_PER_POST} highest-weighted TF-IDF terms (scikit-learn, English stop words "
            f"removed, words and word pairs, fitted on all {_posts(len(posts))} read)."
        )
    if made["brief"]:
        result.notes.append(
            f"brief: {_posts(len(made['brief']))} had none ({', '.join(BRIEF_KEYS)}), so one was written "
            f"from the title, else the keywords, e.g. {made['brief'][0]['brief']!r}"
        )


def _problem(
    row: dict[str, Any], rule_set: rules.Rules, path: Path, own: list[tuple[str, str, str]]
) -> str | None:
    if not row["text"]:
        return "no text"
    if not row["brief"]:
        return "no brief, title or keywords to write one from"
    if own:
        return f"{own[0][0]}: {own[0][1]}"
    kind, platform = row["type"], row["platform"]
    if kind not in rule_set:
        return f"type '{kind}' has no rules in {path.name}"
    if platform is None:
        return f"{kind} post without a platform"
    found = rules.for_row(rule_set, kind, platform)
    if found is None:
        return f"{kind} platform '{platform}' has no rules in {path.name}"
    broken = rules.check(row["text"], found)
    if broken:
        return f"breaks the {kind}/{platform} rules: " + "; ".join(rules.rule_broken(b) for b in broken)
    return None


def _brief(row: dict[str, Any], title: str | None) -> str:
    """E.g. 'Blog post titled "..."', 'Email with the subject "..."', 'Instagram post about a, b, c'."""
    kind, platform = row["type"], row["platform"]
    noun = f"{platform} post" if kind == "social" else {"blog": "blog post"}.get(kind, kind)
    named = f'with the subject "{title}"' if kind == "email" else f'titled "{title}"'
    about = named if title else "about " + ", ".join(row["keywords"])
    return f"{noun[0].upper()}{noun[1:]} {about}."


def extract_keywords(corpus: list[str], rows: list[dict[str, Any]]) -> list[list[str]]:
    """Each row's top TF-IDF terms, fitted on the whole corpus; a term sharing a word with a kept one is
    passed over, so "rescue shelf" does not also bring "shelf"."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not rows:
        return []
    vectorizer = TfidfVectorizer(
        stop_words="english", ngram_range=(1, 2), token_pattern=r"(?u)\b[^\W\d_]{3,}\b", sublinear_tf=True
    )
    try:
        vectorizer.fit(corpus)
    except ValueError:  # no word left after stop words: nothing to extract
        return [[] for _ in rows]
    terms = vectorizer.get_feature_names_out()
    found = []
    for weights in vectorizer.transform([row["text"] for row in rows]):
        ranked = sorted(zip(-weights.data, terms[weights.indices], strict=True))
        chosen: list[str] = []
        for _, term in ranked:
            if not any(set(term.split()) & set(kept.split()) for kept in chosen):
                chosen.append(str(term))
            if len(chosen) == KEYWORDS_PER_POST:
                break
        found.append(chosen)
    return found


def _posts(count: int) -> str:
    return f"{count} post" + ("" if count == 1 else "s")
