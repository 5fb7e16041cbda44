"""`scenario prepare content --from folder|csv`: published posts into content rows.

Posts carry no brief, so one is written from the title (or keywords) and said so in the notes.
Every row must keep its type's and platform's rules: a published text that breaks them would teach
the model to break them, so it is skipped with the rule it broke.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any

from scenario_pack.core.data.csv_table import CsvTable, read_csv
from scenario_pack.core.data.import_sources import (
    UnreadableHtml,
    html_to_text,
    map_columns,
    read_text,
    require_dir,
)
from scenario_pack.core.data.importing import Importer, ImportOption, ImportResult, Skip
from scenario_pack.core.errors import ConfigError, DataError, DataIssue, data_error

from . import post_rows
from .post_rows import BRIEF_KEYS, Posts

POST_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}
CSV_FIELDS = ("text", "platform", "type", "brief", "keywords", "audience", "id", "date")
ENGAGEMENT = ("likes", "shares", "comments", "clicks")
PLATFORM_ALIASES = {"twitter": "x", "x (twitter)": "x", "twitter/x": "x"}


# -- folder of posts ------------------------------------------------------------------------------


def read_folder(source: Path, options: dict[str, Any]) -> ImportResult:
    import frontmatter
    import yaml

    require_dir(source)
    result = ImportResult(rows=[])
    posts: list[tuple[str, dict[str, Any]]] = []
    issues: list[DataIssue] = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        where = str(path.relative_to(source))
        markup = POST_SUFFIXES.get(path.suffix.lower())
        if markup is None:
            result.skipped.append(Skip("not a Markdown or HTML file", where))
            continue
        try:
            post = frontmatter.loads(read_text(path))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            issues.append(
                DataIssue(
                    str(path),
                    mark.line + 1 if mark else 1,  # the YAML text starts on the opening '---' line
                    "front matter",
                    f"is not valid YAML ({getattr(exc, 'problem', None) or exc})",
                    "Fix the block between the '---' lines.",
                )
            )
            continue
        meta = post.metadata
        try:
            body = html_to_text(post.content) if markup == "html" else post.content.strip()
        except UnreadableHtml as exc:
            result.skipped.append(Skip(str(exc), where))
            continue
        kind = str(meta.get("type") or options.get("type") or "blog").strip().lower()
        row: dict[str, Any] = {
            "id": str(meta.get("id") or Path(where).with_suffix("").as_posix()),
            "type": kind,
            "platform": _platform(meta.get("platform")) or (None if kind == "social" else kind),
            "text": _with_title(body, kind, meta.get("title")),
            "keywords": _keyword_list(meta.get("tags") or meta.get("keywords")),
        }
        row["brief"] = next((str(meta[k]).strip() for k in BRIEF_KEYS if meta.get(k)), None)
        row["title"] = str(meta["title"]).strip() if meta.get("title") else None
        for name in ("audience", "date"):
            if meta.get(name):
                row[name] = str(meta[name])
        posts.append((where, row))
    if issues:
        raise DataError(issues)
    post_rows.finish(posts, options, result)
    return result


def _with_title(body: str, kind: str, title: Any) -> str:
    """Blog rules want a '# Title' first line and email rules a 'Subject:' one; front matter holds them."""
    if title and kind == "blog" and not body.startswith("# "):
        return f"# {str(title).strip()}\n\n{body}"
    if title and kind == "email" and not body.lower().startswith("subject:"):
        return f"Subject: {str(title).strip()}\n\n{body}"
    return body


# -- social tool export ---------------------------------------------------------------------------


def read_social_csv(source: Path, options: dict[str, Any]) -> ImportResult:
    table = read_csv(source)
    columns = map_columns(table, options.get("map") or (), CSV_FIELDS + ENGAGEMENT, ("text", "platform"))
    measured = [name for name in ENGAGEMENT if name in columns]
    top = _top_share(options.get("top"), table, measured)
    result = ImportResult(rows=[], notes=[table.read_as] if table.read_as else [])
    posts, issues = [], []
    for line, cells in table.rows:
        value = {name: cells[column].strip() for name, column in columns.items() if cells[column].strip()}
        row: dict[str, Any] = {
            "id": value.get("id") or f"{source.stem}-{line}",
            "type": (value.get("type") or "social").lower(),
            "platform": _platform(value.get("platform")),
            "text": value.get("text", ""),
            "keywords": _keyword_list(value.get("keywords")),
            "brief": value.get("brief"),
            "title": None,
        }
        for name in ("audience", "date"):
            if value.get(name):
                row[name] = value[name]
        if measured:
            counts = [_count(cells[columns[name]], table, line, columns[name], issues) for name in measured]
            row["engagement"] = sum(counts)
        posts.append((f"{source.name} line {line}", row))
    if issues:
        raise DataError(issues)
    best = functools.partial(_keep_top, share=top, measured=measured, result=result) if top else None
    post_rows.finish(posts, options, result, best)
    return result


def _top_share(value: Any, table: CsvTable, measured: list[str]) -> float | None:
    if value is None:
        return None
    try:
        share = float(value)
    except ValueError:
        share = math.nan
    if not 0 < share <= 100:
        raise ConfigError(f"--top {value!r}: give a percentage above 0 and at most 100, e.g. --top 25.")
    if not measured:
        raise data_error(
            table.path,
            1,
            None,
            f"--top needs engagement columns ({', '.join(ENGAGEMENT)}) and there are none among: "
            f"{', '.join(table.columns)}",
            "Map the ones the export has, e.g. --map likes=Reactions, or drop --top.",
        )
    return share


def _count(cell: str, table: CsvTable, line: int, column: str, issues: list[DataIssue]) -> int:
    text = cell.replace(",", "").replace(" ", "")
    if not text:
        return 0
    if text.isdigit():
        return int(text)
    issues.append(
        DataIssue(str(table.path), line, column, f"{cell!r} is not a whole number", "Give counts like 1234.")
    )
    return 0


def _keep_top(rows: Posts, share: float, measured: list[str], result: ImportResult) -> Posts:
    """The best PCT% of each platform's rows: platforms' audiences differ too much for one ranking."""
    by_platform: dict[str, Posts] = {}
    for item in rows:
        by_platform.setdefault(item[1]["platform"], []).append(item)
    keep: set[int] = set()
    for group in by_platform.values():
        ranked = sorted(group, key=lambda item: -item[1]["engagement"])
        keep.update(id(row) for _, row in ranked[: math.ceil(len(group) * share / 100)])
    result.skipped += [
        Skip(f"below the top {share:g}% by engagement on its platform", where)
        for where, row in rows
        if id(row) not in keep
    ]
    result.notes.append(
        f"engagement = {' + '.join(measured)} (empty cells count 0); kept the top {share:g}% of each "
        f"platform's posts by engagement: {len(keep)} of {len(rows)}."
    )
    return [(where, row) for where, row in rows if id(row) in keep]


def _keyword_list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else re.split(r"[,;]", str(value or ""))
    return [str(item).strip().lstrip("#").strip() for item in items if str(item).strip().lstrip("#").strip()]


def _platform(value: Any) -> str | None:
    name = str(value or "").strip().lower()
    return PLATFORM_ALIASES.get(name, name) or None


MAP_HELP = (
    "field=Column: the CSV column holding a field or engagement count (repeatable; default: same names)"
)
importers = (
    Importer(
        "folder",
        "a folder of Markdown or HTML posts with front matter (title, date, tags, type, platform)",
        read_folder,
        (ImportOption("type", "content type of posts whose front matter names none", default="blog"),),
    ),
    Importer(
        "csv",
        "a social tool's export: text, platform, date and engagement counts per post",
        read_social_csv,
        (
            ImportOption("map", MAP_HELP, multiple=True),
            ImportOption("top", "keep only each platform's best PCT% of posts by engagement"),
        ),
    ),
)
