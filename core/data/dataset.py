"""Loading and validation of a scenario's rows file or Hub dataset.

JSON Lines through the project's one JSON Lines reader (core/data/jsonl.py), which names every bad
line; CSV through its one CSV reader (core/data/csv_table.py), which `prepare --from csv` uses too;
Parquet with pyarrow; a Hub dataset (`hf:ORG/NAME`) through datasets (core/data/hub.py). Validation
runs before any model is loaded and reports every problem at once (up to a cap), each naming the
file, the line and the field. Rows keep their source line (a Hub row: its position) in `_line` so
later stages (reports, leakage checks) can point back at the source.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError, DataIssue, data_error
from ..plugins.scenario import Scenario
from . import csv_table, hub, jsonl

FORMATS = {".jsonl": "json", ".json": "json", ".ndjson": "json", ".csv": "csv", ".parquet": "parquet"}
TYPE_NAMES = {str: "text", int: "whole number", float: "number", bool: "true/false", list: "list"}

Source = Path | hub.HubData  # what --data and --test name: a rows file or a split of a Hub dataset


@dataclass
class Dataset:
    """Validated rows of one file or Hub dataset, with where they came from.

    A Hub dataset's path is its hf: name: nothing lies beside it, so a scenario's side files (docs,
    off-brand texts) are then given by flag.
    """

    path: Path
    rows: list[dict[str, Any]]
    sha256: str
    read_as: str | None = None  # how a CSV was read, when not comma-separated UTF-8


def _check_path(path: Path) -> None:
    if path.is_symlink() and not path.exists():
        raise data_error(
            path, None, None, "is a broken or looping symbolic link", "Point it at a real data file."
        )
    if not path.exists():
        raise data_error(path, None, None, "file not found", "Check the path.")
    if path.is_dir():
        raise data_error(
            path, None, None, "is a directory, not a data file", "Pass a .jsonl, .csv or .parquet file."
        )
    if path.suffix.lower() not in FORMATS:
        raise data_error(
            path,
            None,
            None,
            f"unsupported file type '{path.suffix or '(none)'}'",
            "Use .jsonl (one JSON object per line), .csv or .parquet.",
        )
    if not os.access(path, os.R_OK):
        raise data_error(path, None, None, "file is not readable", "Fix its permissions (chmod +r).")
    if path.stat().st_size == 0:
        raise data_error(path, None, None, "file is empty", "Add at least one row.")


def _read_table(path: Path, scenario: Scenario) -> tuple[list[dict[str, Any]], list[int | None], str | None]:
    """CSV through the shared reader (lines are the file's lines), Parquet through pyarrow (row numbers).

    Also returns how a CSV was read when that is not comma-separated UTF-8, for the user to see.
    """
    if FORMATS[path.suffix.lower()] == "parquet":
        return _read_parquet(path, scenario)
    table = csv_table.read_csv(path)
    _require_fields(path, scenario, table.columns, 1, table.read_as)
    kinds = {spec.name: spec.type for spec in scenario.fields}
    rows = [
        {name: csv_table.parse_cell(cell, kinds.get(name, str)) for name, cell in cells.items()}
        for _, cells in table.rows
    ]
    return rows, [line for line, _ in table.rows], table.read_as


def _read_parquet(path: Path, scenario: Scenario) -> tuple[list[dict[str, Any]], list[int | None], None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise data_error(
            path,
            None,
            None,
            f"cannot read as Parquet: {str(exc).splitlines()[0][:300]}",
            "Check that it is a complete Parquet file (write it again), or use .jsonl or .csv.",
        ) from exc
    if rows:
        _require_fields(path, scenario, list(rows[0]), None, None)
    return rows, list(range(1, len(rows) + 1)), None


def _require_fields(
    path: Source, scenario: Scenario, found: list[str], line: int | None, read_as: str | None
) -> None:
    """A required field no row has is one problem, not one per row, and its fix is usually a mapping."""
    missing = [spec.name for spec in scenario.fields if spec.required and spec.name not in found]
    if not missing:
        return
    shown = ", ".join(found[:30]) + (f" and {len(found) - 30} more" if len(found) > 30 else "")
    how = f"; {read_as}" if read_as else ""
    raise data_error(
        path,
        line,
        missing[0],
        f"required field(s) {', '.join(missing)} missing from every row (found: {shown}{how})",
        _mapping_fix(scenario, path, missing[0]),
    )


def _require_keys(source: Source, scenario: Scenario, rows: list[dict[str, Any]]) -> None:
    """`_require_fields` for rows that are objects, each with its own keys."""
    _require_fields(source, scenario, list(dict.fromkeys(k for row in rows for k in row)), None, None)


def _mapping_fix(scenario: Scenario, path: Source, field: str) -> str:
    if isinstance(path, hub.HubData):
        return f"Name the column that holds it: --map {field}=COLUMN."
    kinds = [importer.kind for importer in scenario.importers]
    if "csv" in kinds:
        export = path if path.suffix.lower() == ".csv" else "YOUR_EXPORT.csv"
        return (
            f"Rename the column, or let prepare map your column to it: `scenario prepare {scenario.name} "
            f"--from csv {export} --map {field}=YOUR_COLUMN --out rows.jsonl`."
        )
    if kinds:
        return (
            f"Rename it in every row, or import your source with `scenario prepare {scenario.name} "
            f"--from {'|'.join(kinds)}` (see --help)."
        )
    return f"Add or rename '{field}' in every row."


def _check_row(row: dict[str, Any], scenario: Scenario, source: str, line: int | None) -> list[DataIssue]:
    issues = []
    for spec in scenario.fields:
        value = row.get(spec.name)
        kind = TYPE_NAMES.get(spec.type, spec.type.__name__)
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
                    f"expected {kind}, got {type(value).__name__} {str(value)[:40]!r}",
                    f"Give '{spec.name}' as {kind}.",
                )
            )
        elif spec.nonempty and spec.required and isinstance(value, str) and not value.strip():
            issues.append(
                DataIssue(source, line, spec.name, "is empty", f"Fill in '{spec.name}' or drop the row.")
            )
    if not issues:
        issues = [DataIssue(source, line, *problem) for problem in scenario.check_row(row)]
    return issues


def _check_unique(rows: list[dict[str, Any]], scenario: Scenario, source: str) -> list[DataIssue]:
    issues = []
    for spec in scenario.fields:
        if not spec.unique:
            continue
        seen: dict[str, int | None] = {}
        for row in rows:
            value = row.get(spec.name)
            if value is None:
                continue
            key = json.dumps(value, sort_keys=True, default=str)  # any JSON value, lists included
            if key in seen:
                issues.append(
                    DataIssue(
                        source,
                        row["_line"],
                        spec.name,
                        f"{value!r} repeats line {seen[key]}",
                        f"Give every row its own '{spec.name}', or drop the duplicate.",
                    )
                )
            else:
                seen[key] = row["_line"]
    return issues


def load_sources(
    data: Source, test: Source | None, scenario: Scenario, limit: int | None, maps: Sequence[str]
) -> tuple[Dataset, Dataset | None]:
    """The --data and --test rows. `maps` (--map field=column) rename a Hub dataset's columns; on a
    local file they would do nothing, which is refused rather than ignored."""
    if maps and not any(isinstance(source, hub.HubData) for source in (data, test)):
        raise ConfigError(
            f"--map {' '.join(maps)}: --map renames the columns of a Hub dataset (--data hf:ORG/NAME). For "
            f"a local file, rename its columns, or import it with `scenario prepare {scenario.name} --from "
            "csv FILE --map field=column --out rows.jsonl`."
        )
    return load(data, scenario, limit, maps), load(test, scenario, None, maps) if test else None


def load(source: Source, scenario: Scenario, limit: int | None = None, maps: Sequence[str] = ()) -> Dataset:
    """Read and validate one source against the scenario's schema; raise DataError listing every problem."""
    read_as = None
    if isinstance(source, hub.HubData):
        rows, sha256 = hub.read(source, maps)
        path, line_numbers = Path(str(source)), list(range(1, len(rows) + 1))
        _require_keys(source, scenario, rows)
    else:
        path = Path(source)
        _check_path(path)
        raw = path.read_bytes()
        sha256 = hashlib.sha256(raw).hexdigest()
        if FORMATS[path.suffix.lower()] == "json":
            rows, line_numbers = jsonl.read_objects(path, raw)
            _require_keys(path, scenario, rows)
        else:
            rows, line_numbers, read_as = _read_table(path, scenario)
    if limit is not None:
        rows, line_numbers = rows[:limit], line_numbers[:limit]
    if not rows:
        raise data_error(path, None, None, "has no rows", "Add at least one row.")
    issues: list[DataIssue] = []
    clean = []
    for row, line in zip(rows, line_numbers, strict=True):
        issues.extend(_check_row(row, scenario, str(path), line))
        clean.append({**row, "_line": line})
    issues.extend(_check_unique(clean, scenario, str(path)))
    if issues:
        raise DataError(issues)
    return Dataset(path=path, rows=clean, sha256=sha256, read_as=read_as)


def read_rows(path: Path, scenario: Scenario) -> list[dict[str, Any]]:
    """A rows file's rows as stored, not yet checked: what `prepare --append` adds to."""
    path = Path(path)
    _check_path(path)
    if FORMATS[path.suffix.lower()] == "json":
        return jsonl.read_objects(path, path.read_bytes())[0]
    return _read_table(path, scenario)[0]
