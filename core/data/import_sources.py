"""Reading what importers are given: JSON or NDJSON exports, CSV column mappings, HTML.

Every importer reads files that other tools wrote, so the same failures recur (a bad line, a
missing column, an unreadable file); they are reported here once, naming the file, line and field.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError, DataIssue, data_error
from . import jsonl
from .csv_table import CsvTable

HTML_TAG = re.compile(r"<(p|div|br|html|body|span|table|a|b|strong|em|i|ul|ol|li|h[1-6])\b[^>]*>", re.I)
START_TAG = re.compile(r"<[A-Za-z]")
# markdownify 1.2 converts recursively, about three frames per element level: 329 levels exhaust
# Python's default limit of 1000. 200 leaves room for the caller's frames and is deeper than mail
# clients nest quoted replies or page builders nest their layouts.
MAX_HTML_DEPTH = 200


class UnreadableHtml(ValueError):
    """HTML that cannot be turned into text; importers skip its record with this message as reason."""


def require_file(path: Path) -> None:
    if not path.exists():
        raise data_error(path, None, None, "not found", "Check the path.")
    if not path.is_file():
        raise data_error(path, None, None, "is a folder, not a file", "Pass the export file itself.")


def require_dir(path: Path) -> None:
    if not path.exists():
        raise data_error(path, None, None, "not found", "Check the path.")
    if not path.is_dir():
        raise data_error(path, None, None, "is a file, not a folder", "Pass the folder that holds the files.")


def read_text(path: Path) -> str:
    """The file as UTF-8 text (a BOM is dropped); undecodable bytes are reported with their line."""
    require_file(path)
    return jsonl.decode(path, path.read_bytes())


@dataclass
class JsonSource:
    """A parsed JSON document, or the values of an NDJSON file with their line numbers."""

    path: Path
    document: Any = None
    lines: list[tuple[int, Any]] = field(default_factory=list)

    @property
    def is_document(self) -> bool:
        return not self.lines


def read_json(path: Path) -> JsonSource:
    """One JSON document, or JSON Lines when the file is not one document; errors name their line."""
    text = read_text(path)
    if not text.strip():
        raise data_error(path, None, None, "file is empty", "Export the data again.")
    try:
        return JsonSource(path, document=json.loads(text))
    except json.JSONDecodeError as whole:
        document_error = whole
    fix = "Fix the syntax there (one JSON document, or one JSON object per line)."
    issues: list[DataIssue] = []
    values = list(jsonl.values(path, text, fix, issues))
    first_line_bad = bool(issues) and (not values or (issues[0].line or 0) < values[0][0])
    if first_line_bad:  # the first line is no JSON value alone: one (broken) document
        err = document_error
        raise data_error(
            path, err.lineno, None, f"invalid JSON ({err.msg} at column {err.colno})", fix
        ) from err
    if issues:
        raise DataError(issues)
    return JsonSource(path, lines=values)


def records(source: JsonSource, list_key: str) -> list[tuple[str, dict[str, Any]]]:
    """(where, object) of each record: a JSON list, an object holding one under list_key, or NDJSON."""
    name = source.path.name
    if source.is_document:
        doc = source.document
        if isinstance(doc, dict) and isinstance(doc.get(list_key), list):
            doc = doc[list_key]
        elif isinstance(doc, dict):
            doc = [doc]
        if not isinstance(doc, list):
            raise data_error(
                source.path,
                1,
                None,
                f"expected a list of records or an object with a '{list_key}' list, got {type(doc).__name__}",
                f'Export a JSON list, {{"{list_key}": [...]}}, or one JSON object per line.',
            )
        numbered = [(f"{name} record {i}", value) for i, value in enumerate(doc, start=1)]
    else:
        numbered = [(f"{name} line {n}", value) for n, value in source.lines]
    issues = [
        DataIssue(
            str(source.path),
            None,
            None,
            f"{where}: expected a JSON object, got {type(value).__name__}",
            "Each record must be one object.",
        )
        for where, value in numbered
        if not isinstance(value, dict)
    ]
    if issues:
        raise DataError(issues)
    return numbered


def map_columns(
    table: CsvTable,
    maps: Sequence[str],
    fields: Sequence[str],
    required: Sequence[str],
    aliases: dict[str, str] | None = None,
) -> dict[str, str]:
    """Field -> column from `--map field=Column` flags; unmapped fields take a column of their own name."""
    aliases = aliases or {}
    mapping: dict[str, str] = {}
    for item in maps:
        name, sep, column = (part.strip() for part in item.partition("="))
        name = aliases.get(name, name)
        if not sep or not name or not column:
            raise ConfigError(f"--map '{item}' must look like field=Column, e.g. --map ticket=Body.")
        if name not in fields:
            raise ConfigError(f"--map '{item}': unknown field '{name}'. Fields: {', '.join(fields)}.")
        if column not in table.columns:
            raise data_error(
                table.path,
                1,
                column,
                f"no such column (from --map {item}); the columns are: {', '.join(table.columns)}",
                "Use one of those names after the '='.",
            )
        mapping[name] = column
    by_lower = {c.lower(): c for c in table.columns}
    for name in fields:
        if name not in mapping and name.lower() in by_lower:
            mapping[name] = by_lower[name.lower()]
    missing = [name for name in required if name not in mapping]
    if missing:
        raise data_error(
            table.path,
            1,
            missing[0],
            f"no column for required field(s) {', '.join(missing)}; "
            f"the columns are: {', '.join(table.columns)}",
            f"Map one with --map {missing[0]}=COLUMN.",
        )
    return mapping


def looks_like_html(text: str) -> bool:
    return bool(HTML_TAG.search(text))


def html_to_text(html: str) -> str:
    """Readable text with Markdown headings and lists (what content rules check); links keep their words.

    Raises UnreadableHtml when elements nest deeper than MAX_HTML_DEPTH, checked before parsing.
    """
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    _check_depth(html)
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["head", "script", "style", "template"]):
        tag.decompose()
    converter = MarkdownConverter(
        heading_style="ATX",
        bullets="-",
        strip=["a", "b", "strong", "em", "i", "u", "img", "span", "font"],
        escape_underscores=False,
        escape_asterisks=False,
    )
    text = converter.convert_soup(soup).replace("\xa0", " ")
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _check_depth(html: str) -> None:
    """Refuse HTML nested deeper than MAX_HTML_DEPTH, measured the way BeautifulSoup's html.parser builds
    its tree (void elements hold nothing; an end tag closes up to its open element; unclosed ones nest).

    Measured with the stdlib tokenizer, which keeps no stack of its own and stops at the first level too
    deep, so a 100,000-level record is refused in milliseconds instead of parsed for seconds and then
    overflowing the stack in markdownify.
    """
    from html.parser import HTMLParser

    from bs4.builder import HTMLTreeBuilder

    if len(START_TAG.findall(html)) <= MAX_HTML_DEPTH:  # fewer tags than the limit: nothing to measure
        return
    void = HTMLTreeBuilder.DEFAULT_EMPTY_ELEMENT_TAGS
    open_tags: list[str] = []
    open_count: Counter[str] = Counter()

    class DepthMeter(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in void:
                return
            open_tags.append(tag)
            open_count[tag] += 1
            if len(open_tags) > MAX_HTML_DEPTH:
                raise UnreadableHtml(f"HTML nested more than {MAX_HTML_DEPTH} elements deep")

        def handle_endtag(self, tag: str) -> None:
            if not open_count[tag]:
                return  # an end tag without its start tag is ignored, as the parser does
            while True:
                closed = open_tags.pop()
                open_count[closed] -= 1
                if closed == tag:
                    return

    meter = DepthMeter(convert_charrefs=False)
    meter.feed(html)
    meter.close()
