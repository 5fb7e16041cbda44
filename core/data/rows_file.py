"""The rows file `scenario prepare` writes: where it may go, what is redacted before it is written,
and how imported rows join the rows already there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import ConfigError
from ..plugins.scenario import Scenario
from . import csv_table, dataset, redaction

SUFFIXES = {".jsonl", ".ndjson", ".csv"}  # what --out can be written as and read back by validate


def check_out(out: Path, inputs: list[Path]) -> None:
    """Before any work: a format validate reads back, and never one of the command's own inputs."""
    if out.suffix.lower() not in SUFFIXES:
        raise ConfigError(
            f"--out {out}: prepare writes JSON Lines (.jsonl) or CSV (.csv), not "
            f"'{out.suffix or 'a file without extension'}'. Name it {out.stem or 'rows'}.jsonl or "
            f"{out.stem or 'rows'}.csv."
        )
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder. Give the rows file to write, e.g. {out / 'rows.jsonl'}.")
    for given in inputs:
        if out.exists() and given.exists() and out.samefile(given):
            raise ConfigError(
                f"--out {out} is also an input of this command ({given}); writing would replace it. "
                "Choose another --out file."
            )


def redact(scenario: Scenario, rows: list[dict[str, Any]]) -> tuple[tuple[str, ...], dict[str, int]]:
    """Redact the free-text fields in place (a nested one, such as a thread's history, when rows hold
    it): the rows file is shared and kept, so private values never reach it. Returns the fields and
    the counts by kind."""
    fields = tuple(
        f.name
        for f in scenario.fields
        if f.free_text and (f.type is str or any(f.name in row for row in rows))
    )
    return fields, redaction.redact_rows(rows, fields)


def write(out: Path, scenario: Scenario, rows: list[dict[str, Any]], append: bool) -> int:
    """Write `rows` atomically (after the rows already in `out` with `append`); returns how many
    rows were there before."""
    earlier = dataset.read_rows(out, scenario) if append and out.exists() else []
    if out.suffix.lower() == ".csv":
        csv_table.write_csv(out, earlier + rows)
    else:
        atomic.write_jsonl(out, earlier + rows)
    return len(earlier)
