"""Exact copies and the seeded split: what keeps a held-out row from also being trained on.

Inputs are compared normalised (case and spacing ignored); rows that share a split key (a ticket
thread) move as one unit, so none of them is held out while another is trained on.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ..errors import DataError, DataIssue


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
    rows: list[dict[str, Any]],
    size: float | int,
    seed: int,
    label_field: str | None,
    keys: list[str | None] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """Seeded split into (kept, held_out, stratified); stratified by label when every label has two rows
    or more and each side can hold one row of every label (the caller says when it is not).

    Rows sharing a key (see Scenario.split_key), such as the rows of one ticket thread, are drawn as
    one unit, so none is held out while another is trained on; `size` then counts units (a row without
    a key is a unit of its own, so ungrouped rows split exactly as rows).
    """
    from sklearn.model_selection import train_test_split

    units = _units(rows, keys or [None] * len(rows))
    n_out = _count(size, len(units))
    if n_out == 0:
        return list(rows), [], False
    if n_out >= len(units):
        counted = "rows" if len(units) == len(rows) else f"groups of rows ({len(rows)} rows)"
        raise DataError(
            [
                DataIssue(
                    "(split)",
                    None,
                    None,
                    f"cannot hold out {n_out} of {len(units)} {counted}",
                    "Give more rows or a smaller test/validation size.",
                )
            ]
        )
    labels = [unit[0][label_field] for unit in units] if label_field else None
    stratify = None
    if labels is not None:
        counts = Counter(labels)
        if min(counts.values()) >= 2 and n_out >= len(counts) and len(units) - n_out >= len(counts):
            stratify = labels
    kept, held = train_test_split(units, test_size=n_out, random_state=seed, stratify=stratify)
    kept_rows, held_rows = ([row for unit in side for row in unit] for side in (kept, held))
    return kept_rows, held_rows, stratify is not None


def _units(rows: list[dict[str, Any]], keys: list[str | None]) -> list[list[dict[str, Any]]]:
    """Rows grouped by key, in order of first appearance; a row without a key stands alone."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    units: list[list[dict[str, Any]]] = []
    for row, key in zip(rows, keys, strict=True):
        if key is None:
            units.append([row])
        elif key in by_key:
            by_key[key].append(row)
        else:
            by_key[key] = [row]
            units.append(by_key[key])
    return units
