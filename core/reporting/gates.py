"""CI gates: `scenario run --require improved|beats-baseline` turns the run's verdicts into an exit
code, so a CI job fails when fine-tuning did not pay off. They are checked once the report is
written, so the job's artifacts show why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..evaluation.few_shot import Baseline
from ..evaluation.scoring import number
from ..evaluation.statistics import Verdict
from .report_parts import Interval
from .results import RunResults

if TYPE_CHECKING:
    from ..run_config import RunConfig

REQUIREMENTS = ("improved", "beats-baseline")
EXIT_CODE = 3  # the CLI's others: 1 inspect found errors, 2 an error the user can fix, 130 interrupted


@dataclass(frozen=True)
class Gate:
    """One --require, decided: whether it held, and the numbers it was decided on."""

    requirement: str
    passed: bool
    detail: str


def check_possible(requirements: Sequence[str], config: RunConfig) -> None:
    """Before any work: beats-baseline needs the few-shot baseline, which --baseline none skips."""
    if "beats-baseline" in requirements and not Baseline.parse(config.eval.baseline).shots:
        raise ConfigError(
            "--require beats-baseline compares the tuned model with the few-shot baseline, and the "
            "baseline is off (--baseline none / eval.baseline: none). Use --baseline few-shot, or drop "
            "--require beats-baseline."
        )


def decide(report: RunResults, requirements: Sequence[str]) -> list[Gate]:
    """Each requirement (once, in the order given) on the report's primary metric."""
    return [
        _improved(report) if requirement == "improved" else _beats_baseline(report)
        for requirement in dict.fromkeys(requirements)
    ]


def _improved(report: RunResults) -> Gate:
    metric = report.primary
    detail = (
        f"{report.primary_metric} base {number(metric.base)} -> tuned {number(metric.tuned)}, "
        f"{_change(metric.delta, metric.ci95)}: {metric.verdict.label(metric.few_rows)}"
    )
    return Gate("improved", metric.verdict is Verdict.IMPROVED, detail)


def _beats_baseline(report: RunResults) -> Gate:
    if report.baseline is None:
        detail = "no few-shot baseline was measured: no training example fit the prompt (see the report)"
        return Gate("beats-baseline", False, detail)
    metric = report.baseline.metrics[report.primary_metric]
    detail = (
        f"{report.primary_metric} few-shot {number(metric.few_shot)} -> tuned "
        f"{number(report.primary.tuned)}, {_change(metric.delta, metric.ci95)}: "
        f"{metric.verdict.label(metric.few_rows)}"
    )
    return Gate("beats-baseline", metric.verdict is Verdict.IMPROVED, detail)


def _change(delta: float | None, ci95: Interval) -> str:
    low, high = ci95
    return f"delta {number(delta, '+.3f')} (95% CI {number(low, '+.3f')} to {number(high, '+.3f')})"
