"""The one JSON Lines reader: files people give, and files this project wrote itself.

A file someone gives (rows, an export, off-brand texts, docs) is parsed line by line, so every fault
names its file and line (Python's json and the datasets library name no line); a file a run wrote
(predictions, its saved rows) is read back as written. Writing is atomic.write_jsonl's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError, DataIssue, data_error


def decode(path: Path, raw: bytes) -> str:
    """The bytes as UTF-8 text (a BOM is dropped); undecodable bytes are reported with their line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise data_error(
            path, line, None, f"bytes are not UTF-8 (position {exc.start})", "Re-save the file as UTF-8."
        ) from exc


def values(path: Path, text: str, fix: str, issues: list[DataIssue]) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank line; a line that is no JSON adds an issue with `fix`
    to `issues` instead, so a caller's own checks of the values are reported in line order with it."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.append(
                DataIssue(str(path), number, None, f"invalid JSON ({exc.msg} at column {exc.colno})", fix)
            )
            continue
        yield number, value


def read_objects(path: Path, raw: bytes) -> tuple[list[dict[str, Any]], list[int | None]]:
    """The objects of a rows file and their line numbers; every faulty line is reported at once."""
    text = decode(path, raw)
    if not text.strip():
        raise data_error(path, None, None, "file has no rows, only whitespace", "Add rows.")
    if text.lstrip().startswith("[") and _is_json_array(text):
        raise data_error(
            path,
            1,
            None,
            "file is a JSON array, not JSON Lines",
            "Write one JSON object per line (e.g. jq -c '.[]' in.json > out.jsonl).",
        )
    issues: list[DataIssue] = []
    rows: list[dict[str, Any]] = []
    lines: list[int | None] = []
    for number, value in values(path, text, "Fix the syntax of this line.", issues):
        if not isinstance(value, dict):
            issues.append(
                DataIssue(
                    str(path),
                    number,
                    None,
                    f"expected a JSON object, got {type(value).__name__}",
                    'Each line must be one object like {"field": "value"}.',
                )
            )
            continue
        rows.append(value)
        lines.append(number)
    if issues:
        raise DataError(issues)
    return rows, lines


def _is_json_array(text: str) -> bool:
    try:
        return isinstance(json.loads(text), list)
    except json.JSONDecodeError:
        return False


def read_saved(path: Path) -> list[dict[str, Any]]:
    """A JSON Lines file this project wrote (predictions, a run's rows), read back as written."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
