"""Loading, validation and splitting of a scenario's rows.

Validation runs before any model is loaded and reports every problem at once (up to a cap), each
naming the file, the line and the field. Rows keep their source line in `_line` so later stages
(reports, leakage checks) can point back at the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DataError, DataIssue
from .scenario import Scenario

log = logging.getLogger(__name__)

MAX_ISSUES = 20
FORMATS = {".jsonl": "json", ".json": "json", ".ndjson": "json", ".csv": "csv", ".parquet": "parquet"}
TYPE_NAMES = {str: "text", int: "whole number", float: "number", bool: "true/false", list: "list"}


@dataclass
class Dataset:
    """Validated rows of one file, with where they came from."""

    path: Path
    rows: list[dict[str, Any]]
    sha256: str


def _check_path(path: Path) -> None:
    name = str(path)
    if not path.exists():
        raise DataError([DataIssue(name, None, None, "file not found", "Check the path.")])
    if path.is_dir():
        raise DataError(
            [
                DataIssue(
                    name,
                    None,
                    None,
                    "is a directory, not a data file",
                    "Pass a .jsonl, .csv or .parquet file.",
                )
            ]
        )
    if path.suffix.lower() not in FORMATS:
        raise DataError(
            [
                DataIssue(
                    name,
                    None,
                    None,
                    f"unsupported file type '{path.suffix or '(none)'}'",
                    "Use .jsonl (one JSON object per line), .csv or .parquet.",
                )
            ]
        )
    if not os.access(path, os.R_OK):
        raise DataError([DataIssue(name, None, None, "file is not readable", "Fix its permissions.")])
    if path.stat().st_size == 0:
        raise DataError([DataIssue(name, None, None, "file is empty", "Add at least one row.")])


def _scan_json_lines(path: Path) -> list[int]:
    """Check JSON Lines syntax line by line (datasets' errors name no line); return data line numbers."""
    issues: list[DataIssue] = []
    lines: list[int] = []
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            [
                DataIssue(
                    str(path),
                    line,
                    None,
                    f"bytes are not UTF-8 (position {exc.start})",
                    "Re-save the file as UTF-8.",
                )
            ]
        ) from exc
    if not text.strip():
        raise DataError([DataIssue(str(path), None, None, "file has no rows, only whitespace", "Add rows.")])
    if text.lstrip().startswith("[") and path.suffix.lower() != ".json":
        raise DataError(
            [
                DataIssue(
                    str(path),
                    1,
                    None,
                    "file is a JSON array, not JSON Lines",
                    "Write one JSON object per line (e.g. jq -c '.[]' in.json > out.jsonl).",
                )
            ]
        )
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.append(
                DataIssue(
                    str(path),
                    number,
                    None,
                    f"invalid JSON ({exc.msg} at column {exc.colno})",
                    "Fix the syntax of this line.",
                )
            )
            continue
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
        lines.append(number)
    if issues:
        raise DataError(issues[:MAX_ISSUES], total=len(issues))
    return lines


def _read_rows(path: Path) -> tuple[list[dict[str, Any]], list[int | None]]:
    import datasets  # heavy: imported only when data is read

    fmt = FORMATS[path.suffix.lower()]
    line_numbers: list[int | None]
    if fmt == "json":
        line_numbers = list(_scan_json_lines(path))
    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_dataset(fmt, data_files=str(path), split="train", keep_in_memory=True)
    except Exception as exc:  # datasets/pyarrow raise many types; all mean "this file cannot be read"
        message = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        if (
            "JSON parse error" in message
            or "mixed" in message.lower()
            or "ArrowInvalid" in type(exc).__name__
        ):
            message += " (often one field has different types on different lines)"
        raise DataError(
            [
                DataIssue(
                    str(path),
                    None,
                    None,
                    f"cannot read as {fmt}: {message}",
                    "Check that every row has the same fields with the same types.",
                )
            ]
        ) from exc
    rows = loaded.to_list()
    if fmt == "csv":
        line_numbers = list(range(2, len(rows) + 2))
    elif fmt == "parquet":
        line_numbers = [None] * len(rows)
    return rows, line_numbers


def _check_row(row: dict[str, Any], scenario: Scenario, source: str, line: int | None) -> list[DataIssue]:
    issues = []
    for spec in scenario.fields:
        value = row.get(spec.name)
        if value is None:
            if spec.required:
                issues.append(
                    DataIssue(
                        source,
                        line,
                        spec.name,
                        "required field is missing",
                        f"Add '{spec.name}' ({spec.description}).",
                    )
                )
            continue
        ok = isinstance(value, spec.type) and not (isinstance(value, bool) and spec.type is not bool)
        if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            issues.append(
                DataIssue(
                    source,
                    line,
                    spec.name,
                    f"expected {TYPE_NAMES.get(spec.type, spec.type.__name__)}, "
                    f"got {type(value).__name__} {str(value)[:40]!r}",
                    f"Give '{spec.name}' as {TYPE_NAMES.get(spec.type, spec.type.__name__)}.",
                )
            )
            continue
        if (
            spec.nonempty
            and spec.required
            and isinstance(value, str | list)
            and not (value.strip() if isinstance(value, str) else value)
        ):
            issues.append(
                DataIssue(source, line, spec.name, "is empty", f"Fill in '{spec.name}' or drop the row.")
            )
    return issues


def load(path: Path, scenario: Scenario, limit: int | None = None) -> Dataset:
    """Read and validate one file against the scenario's schema; raise DataError listing every problem."""
    path = Path(path)
    _check_path(path)
    rows, line_numbers = _read_rows(path)
    if limit is not None:
        rows, line_numbers = rows[:limit], line_numbers[:limit]
    if not rows:
        raise DataError([DataIssue(str(path), None, None, "file has no rows", "Add at least one row.")])
    issues: list[DataIssue] = []
    clean = []
    for row, line in zip(rows, line_numbers, strict=True):
        issues.extend(_check_row(row, scenario, str(path), line))
        clean.append({**row, "_line": line})
    if issues:
        raise DataError(issues[:MAX_ISSUES], total=len(issues))
    return Dataset(path=path, rows=clean, sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().lower()


def drop_duplicates(rows: list[dict[str, Any]], field: str) -> tuple[list[dict[str, Any]], int]:
    """Keep the first row of each exact (normalised) input; duplicates would leak across the split."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        key = normalise(row[field])
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept, len(rows) - len(kept)


def overlap(train: list[dict[str, Any]], test: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """Test rows whose input also appears, exactly, in the training rows."""
    seen = {normalise(row[field]) for row in train}
    return [row for row in test if normalise(row[field]) in seen]


def _count(size: float | int, n: int) -> int:
    return int(size) if isinstance(size, int) else max(1, round(n * size)) if size > 0 else 0


def split(
    rows: list[dict[str, Any]], size: float | int, seed: int, label_field: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """Seeded split into (kept, held_out); stratified by label when every label has two rows or more."""
    from sklearn.model_selection import train_test_split

    n_out = _count(size, len(rows))
    if n_out == 0:
        return list(rows), [], False
    if n_out >= len(rows):
        raise DataError(
            [
                DataIssue(
                    "(split)",
                    None,
                    None,
                    f"cannot hold out {n_out} of {len(rows)} rows",
                    "Give more rows or a smaller test/validation size.",
                )
            ]
        )
    labels = [row[label_field] for row in rows] if label_field else None
    stratify = None
    if labels is not None:
        counts = Counter(labels)
        if min(counts.values()) >= 2 and n_out >= len(counts) and len(rows) - n_out >= len(counts):
            stratify = labels
        else:
            log.warning(
                "split is not stratified: some label has fewer than 2 rows or the held-out set is too small"
            )
    kept, held = train_test_split(list(rows), test_size=n_out, random_state=seed, stratify=stratify)
    return kept, held, stratify is not None
