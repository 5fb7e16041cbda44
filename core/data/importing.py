"""Importers: turn what teams hold (help-desk exports, post folders, repositories) into rows.

A scenario lists its importers the way it declares its metrics (`Scenario.importers`), so a
third-party scenario adds its own without touching core. `scenario prepare` runs one, writes the
rows atomically and validates them exactly as `scenario validate` would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ImportOption:
    """One `--name VALUE` flag an importer accepts (shown in `scenario prepare NAME --help`)."""

    name: str  # flag without dashes, e.g. "intent-from"; read as options["intent_from"]
    help: str
    default: Any = None
    multiple: bool = False
    switch: bool = False  # `--name` alone, no value: read as True when given


@dataclass(frozen=True)
class Skip:
    """A source record that did not become a row, and why (counted by reason, first few shown)."""

    reason: str
    where: str  # e.g. "tickets.json record 12 (ticket 4411)" or "posts/2024-01-03.md"


@dataclass
class ImportResult:
    rows: list[dict[str, Any]]
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # methods used, e.g. how keywords were extracted

    def skip_counts(self) -> Counter[str]:
        return Counter(s.reason for s in self.skipped)


@dataclass(frozen=True)
class Importer:
    """`--from KIND SOURCE`: read SOURCE (a file or folder) with the parsed options into rows.

    `read` gets its own options by name (defaults filled in) and the scenario's resolved settings
    beside them (e.g. content's `rules` file), so rows can be checked as the scenario will check them.
    """

    kind: str
    help: str
    read: Callable[[Path, dict[str, Any]], ImportResult]
    options: tuple[ImportOption, ...] = ()
