"""Paired bootstrap intervals and verdicts for base-vs-tuned deltas.

Both models answered the same held-out rows, so each resample draws row indices once and scores
both models on them: the interval is for the paired difference, not two independent means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..plugins.scenario import Metric, Scored

MIN_ROWS_FOR_INTERVAL = 20


@dataclass(frozen=True)
class Comparison:
    base: float
    tuned: float
    delta: float
    low: float
    high: float
    verdict: str  # improved | regressed | no clear change | not comparable

    def as_dict(self) -> dict[str, float | str]:
        return {
            "base": self.base,
            "tuned": self.tuned,
            "delta": self.delta,
            "ci95": [self.low, self.high],
            "verdict": self.verdict,
        }


def verdict(low: float, high: float, direction: str) -> str:
    if math.isnan(low) or math.isnan(high):
        return "not comparable"
    if low > 0:
        return "improved" if direction == "higher" else "regressed"
    if high < 0:
        return "regressed" if direction == "higher" else "improved"
    return "no clear change"


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
    return Comparison(b, t, t - b, low, high, verdict(low, high, metric.direction))
