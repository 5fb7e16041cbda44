"""Data-quality findings: what `scenario inspect` prints and every run report shows.

Each finding has a severity: `info` (worth knowing), `warning` (likely to hurt training or the
measurement; act on it) or `error` (the measurement would be wrong: the run stops unless the user
overrides it). Thresholds are constants here and stated in the README.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from ..plugins.scenario import Scenario
from .similarity import Pair, Progress, near_copies, silent
from .splits import normalise

NEAR_SIMILARITY = (
    0.9  # cosine of TF-IDF character 3-5-grams (punctuation ignored): "near duplicate" at or above
)
LEAKAGE_LIMIT = 0.02  # share of test rows that may (near-)duplicate a training row before a run stops
IMBALANCE_RATIO = 10.0  # largest label over smallest label, in training rows
MIN_LABEL_ROWS = 5
BOILERPLATE_SHARE = 0.05  # one target text repeated in this share of rows (and at least 3)
SHORT_TARGET_WORDS = 3


@dataclass(frozen=True)
class Finding:
    severity: str  # info | warning | error
    check: str
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _quote(text: str, words: int = 12) -> str:
    parts = str(text).split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


def near_duplicates(rows: list[dict[str, Any]], field: str, found: list[Pair]) -> list[Finding]:
    """Pairs of training rows that are near copies (`found`: similarity.near_copies(...).within)."""
    pairs = {tuple(sorted((i, j))) for i, j, _ in found}
    if not pairs:
        return [Finding("info", "near duplicates", f"no two training rows have near-identical {field}s")]
    i, j = next(iter(sorted(pairs)))
    lines = (rows[i].get("_line"), rows[j].get("_line"))
    severity = "warning" if len(pairs) > 0.01 * len(rows) else "info"
    return [
        Finding(
            severity,
            "near duplicates",
            f"{len(pairs)} pairs of training rows have near-identical {field}s (similarity >= "
            f'{NEAR_SIMILARITY}), e.g. lines {lines[0]} and {lines[1]}: "{_quote(rows[i][field])}"',
            "Near copies weigh their answer more in training; keep one of each unless that is intended.",
        )
    ]


def leakage(
    train: list[dict[str, Any]], test: list[dict[str, Any]], field: str, pairs: list[Pair]
) -> list[Finding]:
    """Test rows whose input also appears, exactly or nearly, among the training rows (`pairs`:
    similarity.near_copies(...).across)."""
    share = len(pairs) / len(test) if test else 0.0
    if not pairs:
        return [Finding("info", "leakage", f"no test row's {field} is a near copy of a training row's")]
    i, j, sim = pairs[0]
    example = (
        f"e.g. test line {test[i].get('_line')} and training line {train[j].get('_line')} "
        f'(similarity {sim:.2f}): "{_quote(test[i][field])}"'
    )
    severity = "error" if share > LEAKAGE_LIMIT else "warning"
    return [
        Finding(
            severity,
            "leakage",
            f"{len(pairs)} of {len(test)} test rows ({share:.1%}) are exact or near copies of a training "
            f"row's {field} (similarity >= {NEAR_SIMILARITY}; limit {LEAKAGE_LIMIT:.0%}), {example}",
            "Remove them from the test rows (or the training rows), or pass --allow-leakage to "
            "measure anyway.",
        )
    ]


def label_balance(rows: list[dict[str, Any]], label: str) -> list[Finding]:
    counts = Counter(row[label] for row in rows)
    (top, most), (low, least) = counts.most_common()[0], counts.most_common()[-1]
    summary = ", ".join(f"{k} {v}" for k, v in counts.most_common())
    if len(counts) == 1:  # one value of a field that only balances the split: nothing to balance
        return [Finding("info", "label balance", f"every training row has {label} '{top}' ({most} rows)")]
    if least < MIN_LABEL_ROWS or most / least > IMBALANCE_RATIO:
        return [
            Finding(
                "warning",
                "label balance",
                f"training rows per {label}: {summary}; '{low}' has {least} against {most} for '{top}'",
                f"Add rows of the rare {label}s (at least {MIN_LABEL_ROWS}, within {IMBALANCE_RATIO:.0f}x of "
                "the largest), or expect weak results on them.",
            )
        ]
    return [Finding("info", "label balance", f"training rows per {label}: {summary}")]


def targets(rows: list[dict[str, Any]], fields: list[str]) -> list[Finding]:
    """Boilerplate (one text repeated across many rows) and near-empty targets."""
    findings = []
    for name in fields:
        texts = [normalise(row.get(name) or "") for row in rows]
        text, repeats = Counter(texts).most_common(1)[0]
        if repeats >= 3 and repeats > BOILERPLATE_SHARE * len(rows):
            findings.append(
                Finding(
                    "warning",
                    "boilerplate targets",
                    f'one {name} is repeated in {repeats} of {len(rows)} rows: "{_quote(text)}"',
                    "The model will learn to repeat it; vary the answers or drop the copies.",
                )
            )
        short = sum(1 for t in texts if len(t.split()) < SHORT_TARGET_WORDS)
        if short:
            findings.append(
                Finding(
                    "warning",
                    "short targets",
                    f"{short} rows have a {name} of fewer than {SHORT_TARGET_WORDS} words",
                    "Check that these answers are complete.",
                )
            )
    return findings


def inspect(
    scenario: Scenario,
    train: list[dict[str, Any]],
    test: list[dict[str, Any]],
    duplicates_dropped: int,
    redacted: dict[str, int] | None,
    progress: Progress = silent,
) -> list[Finding]:
    """Every check that needs only the rows (token lengths are added once the tokenizer is loaded);
    `progress` shows the near-copy search, the one that grows with the rows."""
    field = scenario.input_field
    findings = [
        Finding(
            "warning" if duplicates_dropped else "info",
            "exact duplicates",
            f"{duplicates_dropped} rows repeated an earlier row's {field} and were dropped",
            "Remove the copies from the file." if duplicates_dropped else "",
        )
    ]
    copies = near_copies([r[field] for r in train], [r[field] for r in test], NEAR_SIMILARITY, progress)
    findings += near_duplicates(train, field, copies.within) + leakage(train, test, field, copies.across)
    if scenario.label_field:
        findings += label_balance(train, scenario.label_field)
    free_targets = [f.name for f in scenario.fields if f.name in scenario.target_fields and f.free_text]
    findings += targets(train, free_targets)
    if redacted is not None:
        found = ", ".join(f"{n} {kind}" for kind, n in redacted.items()) or "none found"
        findings.append(Finding("info", "private data", f"identifiers redacted before training: {found}"))
    return findings
