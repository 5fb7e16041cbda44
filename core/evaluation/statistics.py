"""Paired bootstrap intervals and verdicts for base-vs-tuned deltas.

Both models answered the same held-out rows, so each resample draws row indices once and scores
both models on them: the interval is for the paired difference, not two independent means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..plugins.scenario import Metric, Scored

MIN_ROWS_FOR_INTERVAL = 20
FEW_ROWS = " (few rows)"  # how a verdict on fewer than MIN_ROWS_FOR_INTERVAL rows is spelled


class Verdict(str, Enum):
    """What a paired interval says about a change, read in the metric's declared direction."""

    IMPROVED = "improved"
    REGRESSED = "regressed"
    NO_CLEAR_CHANGE = "no clear change"
    NOT_COMPARABLE = "not comparable"

    def __str__(self) -> str:
        return self.value

    def label(self, few_rows: bool) -> str:
        """The verdict as reports and report.json spell it: weak evidence says so."""
        return self.value + FEW_ROWS if few_rows else self.value

    @classmethod
    def parse(cls, label: str) -> tuple[Verdict, bool]:
        """The verdict and its few-rows flag back from `label`."""
        plain = label.removesuffix(FEW_ROWS)
        return cls(plain), plain != label


@dataclass(frozen=True)
class Comparison:
    base: float
    tuned: float
    delta: float
    low: float
    high: float
    verdict: Verdict
    few_rows: bool = False  # fewer than MIN_ROWS_FOR_INTERVAL rows: the interval is weak evidence

    @property
    def label(self) -> str:
        return self.verdict.label(self.few_rows)


def verdict(low: float, high: float, direction: str) -> Verdict:
    if math.isnan(low) or math.isnan(high):
        return Verdict.NOT_COMPARABLE
    if low > 0:
        return Verdict.IMPROVED if direction == "higher" else Verdict.REGRESSED
    if high < 0:
        return Verdict.REGRESSED if direction == "higher" else Verdict.IMPROVED
    return Verdict.NO_CLEAR_CHANGE


def compare(
    metric: Metric, base: Sequence[Scored], tuned: Sequence[Scored], resamples: int, seed: int
) -> Comparison:
    """Point estimates on all rows; a 95% percentile interval of the paired delta by bootstrap."""
    b, t = metric.aggregate(base), metric.aggregate(tuned)
    n = len(base)
    rng = np.random.default_rng(seed)
    fast = metric.resampled
    if fast is not None:  # the aggregate scores all resamples at once (see scenario.Aggregate)
        idx = rng.integers(0, n, (resamples, n))
        deltas = fast(tuned, idx) - fast(base, idx)
    else:
        deltas = []
        for _ in range(resamples):
            idx = rng.integers(0, n, n)
            tuned_mean = metric.aggregate([tuned[i] for i in idx])
            deltas.append(tuned_mean - metric.aggregate([base[i] for i in idx]))
    finite = np.array([d for d in deltas if not math.isnan(d)])
    if len(finite) == 0:
        low = high = float("nan")
    else:
        low, high = (float(x) for x in np.percentile(finite, [2.5, 97.5]))
    outcome = verdict(low, high, metric.direction)
    return Comparison(b, t, t - b, low, high, outcome, few_rows=n < MIN_ROWS_FOR_INTERVAL)
