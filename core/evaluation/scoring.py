"""Predictions and scoring, as separate steps.

Generation writes raw outputs to predictions.jsonl; scoring reads only that file (plus the
scenario's fitted context), so `scenario eval` can re-score a run without regenerating.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data import jsonl
from ..errors import ScenarioPackError
from ..plugins.scenario import Scenario, Scored
from ..reporting.results import (
    BaselineComparison,
    BaselineMetric,
    ClosedSet,
    EvaluationSettings,
    FewShotPrompts,
    MetricResult,
)
from .statistics import MIN_ROWS_FOR_INTERVAL, Comparison, Verdict, compare

if TYPE_CHECKING:
    from ..run_config import RunConfig

MIN_SLICE_ROWS = 5  # slices smaller than this are shown but not used for gap flags
GAP_WIDENING = 0.10  # flag when the best-to-worst slice gap of a 0-1 metric grows by more than this


def prediction_records(
    rows: list[dict[str, Any]], references: list[str], outputs: dict[str, list[tuple[Any, ...]]]
) -> list[dict[str, Any]]:
    """One record per held-out row with every model's raw output and time."""
    records = []
    for i, (row, reference) in enumerate(zip(rows, references, strict=True)):
        record: dict[str, Any] = {
            "index": i,
            "line": row.get("_line"),
            "row": _public(row),
            "reference": reference,
        }
        for name, pairs in outputs.items():
            # (text, seconds[, samples[, steered]]): runs written before steered have shorter tuples
            text, seconds, samples, steered = (*pairs[i], None, None)[:4]
            record[name] = {"raw": text, "seconds": seconds}
            if samples is not None:  # sampled answers for pass@k-style metrics
                record[name]["samples"] = samples
            if steered is not None:  # the closed set changed this row's own greedy choice
                record[name]["steered"] = steered
        records.append(record)
    return records


def how_evaluated(
    config: RunConfig, precision: str, starts: list[str] | None, records: list[dict[str, Any]]
) -> EvaluationSettings:
    """How every compared model generated its answers (the same for all), for the report.

    With a closed set of answer starts, also the share of rows per model whose own greedy choice
    would have left the set: what the constraint hides.
    """
    cfg = config.eval
    closed = None
    if starts:
        models = [k for k, v in records[0].items() if isinstance(v, dict) and "raw" in v] if records else []
        outside = {
            m: round(sum(bool(r[m].get("steered")) for r in records) / len(records), 4)
            for m in models
            if any("steered" in r[m] for r in records)
        }
        closed = ClosedSet(len(starts), starts[0], outside)
    return EvaluationSettings(
        precision=precision,
        quantization="none",
        decoding="greedy",
        max_new_tokens=cfg.max_new_tokens,
        repetition_penalty=cfg.repetition_penalty,
        no_repeat_ngram_size=cfg.no_repeat_ngram_size,
        closed_set=closed,
    )


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def read_predictions(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise ScenarioPackError(
            f"{path} not found: this run has no predictions yet. Run 'scenario run' first."
        )
    return jsonl.read_saved(path)


def score(scenario: Scenario, context: Any, records: list[dict[str, Any]], model: str) -> list[Scored]:
    """Parse and score one model's outputs; also stores the cleaned output and scores on each record."""
    parsed = [scenario.parse(record[model]["raw"], context) for record in records]
    samples = [record[model].get("samples") for record in records]
    rows = [record["row"] for record in records]
    values = scenario.score_batch(parsed, rows, context, samples if any(samples) else None)
    scored = []
    for record, item, value in zip(records, parsed, values, strict=True):
        record[model]["parsed"], record[model]["scores"] = item, value
        scored.append(Scored(record["row"], record[model]["raw"], item, value, record[model]["seconds"]))
    return scored


def number(value: float | None, spec: str = ".3f") -> str:
    """A metric value for a sentence or a console line; n/a where a metric did not apply."""
    return "n/a" if value is None else format(value, spec)


def _clean(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(value, 6)


def compare_models(
    scenario: Scenario, base: Sequence[Scored], tuned: Sequence[Scored], resamples: int, seed: int
) -> dict[str, MetricResult]:
    """Every declared metric: direction, base, tuned, delta, paired 95% interval and verdict."""
    out = {}
    for metric in scenario.metrics:
        comparison = compare(metric, base, tuned, resamples, seed)
        out[metric.name] = MetricResult(
            direction=metric.direction,
            description=metric.description,
            primary=metric.primary,
            range=metric.range or None,
            base=_clean(comparison.base),
            tuned=_clean(comparison.tuned),
            delta=_clean(comparison.delta),
            ci95=(_clean(comparison.low), _clean(comparison.high)),
            verdict=comparison.verdict,
            few_rows=comparison.few_rows,
        )
    return out


def against_baseline(
    scenario: Scenario,
    prompts: FewShotPrompts,
    prompted: Sequence[Scored],
    tuned: Sequence[Scored],
    resamples: int,
    seed: int,
) -> BaselineComparison:
    """Tuned vs the few-shot prompted base model on every metric, and one sentence on the primary."""
    versus = compare_models(scenario, prompted, tuned, resamples, seed)
    per_metric = {
        name: BaselineMetric(e.base, e.delta, e.ci95, e.verdict, e.few_rows) for name, e in versus.items()
    }
    primary = scenario.primary_metric.name
    entry = versus[primary]

    values = f"tuned {number(entry.tuned)} vs few-shot {number(entry.base)}"
    low, high = entry.ci95
    evidence = f"{values}, 95% CI of the difference {number(low, '+.3f')} to {number(high, '+.3f')}"
    if entry.verdict is Verdict.IMPROVED:
        sentence = f"Fine-tuning beat few-shot prompting on {primary} ({evidence})."
    elif entry.verdict is Verdict.REGRESSED:
        sentence = f"Few-shot prompting beat fine-tuning on {primary} ({evidence})."
    else:
        sentence = f"Fine-tuning and few-shot prompting are not clearly different on {primary} ({evidence})."
    if entry.few_rows:
        sentence = sentence[:-1] + f"; under {MIN_ROWS_FOR_INTERVAL} test rows, so weak evidence."
    return BaselineComparison(prompts, per_metric, entry.verdict, entry.few_rows, sentence)


def examples_by_gain(
    records: list[dict[str, Any]], score_key: str, count: int
) -> dict[str, list[dict[str, Any]]]:
    """The rows where tuning helped most and hurt most on one per-example score."""

    def gain(record: dict[str, Any]) -> float:
        return record["tuned"]["scores"].get(score_key, 0.0) - record["base"]["scores"].get(score_key, 0.0)

    ranked = sorted(records, key=gain)
    return {"best": list(reversed(ranked[-count:])), "worst": ranked[:count]}


def _table_row(comparison: Comparison) -> list[Any]:
    low, high = comparison.low, comparison.high
    interval = "n/a" if math.isnan(low) or math.isnan(high) else f"{low:+.3f} to {high:+.3f}"
    return [_clean(comparison.base), _clean(comparison.tuned), _clean(comparison.delta), interval]


def _groups(examples: Sequence[Scored], field: str) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        value = ex.row.get(field)
        groups.setdefault("(none)" if value in (None, "") else str(value), []).append(i)
    return dict(sorted(groups.items()))


def by_slice(
    scenario: Scenario,
    base: Sequence[Scored],
    tuned: Sequence[Scored],
    field: str,
    resamples: int,
    seed: int,
) -> tuple[dict[str, Any], list[str]]:
    """Every metric per value of one row field, base vs tuned, with paired intervals and verdicts;
    and flags: slices where the tuned model regressed, metrics whose gap between slices widened."""
    rows, flags = [], []
    values: dict[str, dict[str, tuple[float, float]]] = {}
    for value, idx in _groups(base, field).items():
        b, t = [base[i] for i in idx], [tuned[i] for i in idx]
        for metric in scenario.metrics:
            comparison = compare(metric, b, t, resamples, seed)
            rows.append([value, len(idx), metric.name, *_table_row(comparison), comparison.label])
            if comparison.verdict is Verdict.REGRESSED:
                flags.append(
                    f"{field}={value}: {metric.name} regressed after tuning ({_clean(comparison.base)} -> "
                    f"{_clean(comparison.tuned)}, {len(idx)} rows)"
                )
            if len(idx) >= MIN_SLICE_ROWS and metric.range is not None:
                values.setdefault(metric.name, {})[value] = (comparison.base, comparison.tuned)
    for name, per_value in values.items():
        if len(per_value) < 2:
            continue
        gaps = [max(v[k] for v in per_value.values()) - min(v[k] for v in per_value.values()) for k in (0, 1)]
        if gaps[1] - gaps[0] > GAP_WIDENING:
            flags.append(
                f"{field}: the gap in {name} between slices widened after tuning, from {gaps[0]:.3f} to "
                f"{gaps[1]:.3f} (slices of {MIN_SLICE_ROWS}+ rows)"
            )
    columns = [field, "rows", "metric", "base", "tuned", "delta", "95% CI", "verdict"]
    return {"columns": columns, "rows": rows}, flags


def group_comparison(
    scenario: Scenario,
    single: Sequence[Scored],
    per_group: Sequence[Scored],
    field: str,
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    """Per-group adapters against the single adapter, on the same held-out rows of each group."""
    rows = []
    names = {Verdict.IMPROVED: f"per-{field} adapter", Verdict.REGRESSED: "single adapter"}
    for value, idx in _groups(single, field).items():
        s, g = [single[i] for i in idx], [per_group[i] for i in idx]
        for metric in scenario.metrics:
            comparison = compare(metric, s, g, resamples, seed)
            winner = names.get(comparison.verdict, "no clear difference")
            rows.append([value, len(idx), metric.name, *_table_row(comparison), winner])
    columns = [field, "rows", "metric", "single adapter", f"per-{field} adapter", "delta", "95% CI", "better"]
    return {"columns": columns, "rows": rows}
