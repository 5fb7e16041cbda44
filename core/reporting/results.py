"""What a run's report.json holds, as typed records: the one owner of the results format.

The score-and-compare stage, re-scoring and a sweep's amendments build a RunResults; reports,
`scenario eval`, `scenario report`, chat and export read one back, so nothing reads the file by
key. `to_json` writes exactly the keys, order and values of schema 1 and `from_json` reads any
schema-1 file. The config is the typed RunConfig; scenario-specific or free-form parts (details
tables, context) stay dicts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .. import atomic
from ..data.quality import Finding
from ..errors import ScenarioPackError
from ..evaluation.statistics import Verdict
from ..run_config import RunConfig
from .mix_results import MixResults
from .report_parts import (
    SCHEMA_VERSION,
    DataSummary,
    HardwareSummary,
    Interval,
    Json,
    ModelInfo,
    TrainingSummary,
    pair,
    record_fields,
)


@dataclass(frozen=True)
class MetricResult:
    """One row of the metrics table: base vs tuned on one declared metric."""

    direction: str
    description: str
    primary: bool
    range: tuple[float, float] | None
    base: float | None  # None where the metric did not apply
    tuned: float | None
    delta: float | None
    ci95: Interval  # paired bootstrap interval of tuned - base
    verdict: Verdict
    few_rows: bool

    def to_json(self) -> Json:
        return {
            "direction": self.direction,
            "description": self.description,
            "primary": self.primary,
            "range": list(self.range) if self.range else None,
            "base": self.base,
            "tuned": self.tuned,
            "delta": self.delta,
            "ci95": list(self.ci95),
            "verdict": self.verdict.label(self.few_rows),
        }

    @classmethod
    def from_json(cls, data: Json) -> MetricResult:
        verdict, few_rows = Verdict.parse(data["verdict"])
        return cls(
            **{k: data[k] for k in ("direction", "description", "primary", "base", "tuned", "delta")},
            range=pair(data["range"]) if data["range"] else None,
            ci95=pair(data["ci95"]),
            verdict=verdict,
            few_rows=few_rows,
        )


@dataclass(frozen=True)
class BaselineMetric:
    """Tuned against the few-shot prompted base model on one metric."""

    few_shot: float | None  # the prompted base model's value (the metrics table's few-shot column)
    delta: float | None
    ci95: Interval
    verdict: Verdict
    few_rows: bool

    def to_json(self) -> Json:
        return {"delta": self.delta, "ci95": list(self.ci95), "verdict": self.verdict.label(self.few_rows)}


@dataclass(frozen=True)
class FewShotPrompts:
    """How the few-shot baseline's prompts were built."""

    name: str
    shots: int
    selection: str
    context_tokens: int
    rows_with_fewer_shots: int
    mean_shots: float


@dataclass(frozen=True)
class BaselineComparison:
    """Fine-tuning against few-shot prompting: per metric, and one sentence on the primary metric."""

    prompts: FewShotPrompts
    metrics: dict[str, BaselineMetric]
    verdict: Verdict  # on the primary metric
    few_rows: bool
    sentence: str

    def to_json(self) -> Json:
        return {
            **asdict(self.prompts),
            "metrics": {name: m.to_json() for name, m in self.metrics.items()},
            "verdict": self.verdict.label(self.few_rows),
            "sentence": self.sentence,
        }

    @classmethod
    def from_json(cls, data: Json, few_shot: dict[str, float | None]) -> BaselineComparison:
        """`few_shot`: each metric's prompted value, which report.json keeps in the metrics table."""
        metrics = {}
        for name, entry in data["metrics"].items():
            verdict, few_rows = Verdict.parse(entry["verdict"])
            metrics[name] = BaselineMetric(
                few_shot[name], entry["delta"], pair(entry["ci95"]), verdict, few_rows
            )
        verdict, few_rows = Verdict.parse(data["verdict"])
        prompts = FewShotPrompts(**record_fields(data, FewShotPrompts))
        return cls(prompts, metrics, verdict, few_rows, data["sentence"])


@dataclass(frozen=True)
class ClosedSet:
    """Answers began with one of a closed set of labels; what that hid, per model."""

    labels: int
    example: str
    outside_set_unconstrained: dict[str, float]  # share of rows whose own greedy choice left the set


@dataclass(frozen=True)
class EvaluationSettings:
    """How every compared model generated its answers (the same for all)."""

    precision: str
    quantization: str
    decoding: str
    max_new_tokens: int
    repetition_penalty: float
    no_repeat_ngram_size: int
    closed_set: ClosedSet | None = None

    def to_json(self) -> Json:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "closed_set"}
        return out | ({"closed_set": asdict(self.closed_set)} if self.closed_set else {})

    @classmethod
    def from_json(cls, data: Json) -> EvaluationSettings:
        closed = ClosedSet(**data["closed_set"]) if "closed_set" in data else None
        return cls(**{**record_fields(data, cls), "closed_set": closed})


@dataclass(frozen=True)
class ScenarioInfo:
    name: str
    version: str
    description: str
    templates: dict[str, str]  # template file name: sha256


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep added to its final run: the settings it chose, on which trial, within what budget."""

    chosen: dict[str, Any]
    best_trial: int
    budget: str


@dataclass(frozen=True)
class RunResults:
    """One run's report.json: what was compared, on which rows and machine, and what it showed."""

    run_id: str
    created: str
    scenario: ScenarioInfo
    model: ModelInfo
    config: RunConfig  # the resolved config the run used
    data: DataSummary
    hardware: HardwareSummary
    versions: dict[str, str]
    training: TrainingSummary
    metrics: dict[str, MetricResult]
    evaluation: EvaluationSettings | None
    baseline: BaselineComparison | None  # None without a few-shot baseline
    primary_metric: str
    example_score: str | None  # the per-example score that picks the best and worst examples
    details: dict[str, Json]  # titled tables, {"columns": [...], "rows": [[...], ...]}
    slice_flags: tuple[str, ...]
    context: Json  # the scenario's own summary of what it learned from the training rows
    warnings: tuple[str, ...]
    data_quality: tuple[Finding, ...]
    timings: dict[str, float]
    peak_memory_gib: float
    peak_memory_by_stage: dict[str, float] = field(default_factory=dict)
    sweep: SweepSummary | None = None  # added by a sweep to its final run
    expected_timings: dict[str, float] = field(default_factory=dict)  # estimated before the stages ran

    @property
    def primary(self) -> MetricResult:
        return self.metrics[self.primary_metric]

    def to_json(self) -> Json:
        metrics = {name: m.to_json() for name, m in self.metrics.items()}
        if self.baseline:
            for name, entry in metrics.items():
                entry["few_shot"] = self.baseline.metrics[name].few_shot
        out = {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "created": self.created,
            "scenario": asdict(self.scenario),
            "model": asdict(self.model),
            "config": self.config.to_dict(),
            "data": self.data.to_json(),
            "hardware": self.hardware.to_json(),
            "versions": self.versions,
            "training": self.training.to_json(),
            "metrics": metrics,
            "evaluation": self.evaluation.to_json() if self.evaluation else None,
            "baseline": self.baseline.to_json() if self.baseline else None,
            "primary_metric": self.primary_metric,
            "example_score": self.example_score,
            "details": self.details,
            "slice_flags": list(self.slice_flags),
            "context": self.context,
            "warnings": list(self.warnings),
            "data_quality": [f.as_dict() for f in self.data_quality],
            "timings": self.timings,
            "peak_memory_gib": self.peak_memory_gib,
            "peak_memory_by_stage": self.peak_memory_by_stage,
        }
        if self.expected_timings:  # absent from runs made before estimates: their files stay as written
            out["expected_timings"] = self.expected_timings
        return out | ({"sweep": asdict(self.sweep)} if self.sweep else {})

    @classmethod
    def from_json(cls, data: Json) -> RunResults:
        few_shot = {name: entry.get("few_shot") for name, entry in data["metrics"].items()}
        return cls(
            run_id=data["run_id"],
            created=data["created"],
            scenario=ScenarioInfo(**data["scenario"]),
            model=ModelInfo(**record_fields(data["model"], ModelInfo)),
            config=RunConfig.from_dict(data["config"]),
            data=DataSummary.from_json(data["data"]),
            hardware=HardwareSummary.from_json(data["hardware"]),
            versions=data["versions"],
            training=TrainingSummary.from_json(data["training"]),
            metrics={name: MetricResult.from_json(entry) for name, entry in data["metrics"].items()},
            evaluation=EvaluationSettings.from_json(data["evaluation"]) if data.get("evaluation") else None,
            baseline=BaselineComparison.from_json(data["baseline"], few_shot)
            if data.get("baseline")
            else None,
            primary_metric=data["primary_metric"],
            example_score=data.get("example_score"),
            details=data.get("details", {}),
            slice_flags=tuple(data.get("slice_flags", ())),
            context=data.get("context", {}),
            warnings=tuple(data.get("warnings", ())),
            data_quality=tuple(Finding(**f) for f in data.get("data_quality", ())),
            timings=data.get("timings", {}),
            peak_memory_gib=data.get("peak_memory_gib", 0.0),
            peak_memory_by_stage=data.get("peak_memory_by_stage", {}),
            sweep=SweepSummary(**data["sweep"]) if data.get("sweep") else None,
            expected_timings=data.get("expected_timings", {}),
        )


def read(path: Path) -> RunResults | MixResults:
    """A run's or a run-mix's report.json, typed."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ScenarioPackError(
            f"{path} has schema_version {data.get('schema_version')}, and this scenario-pack reads "
            f"{SCHEMA_VERSION}. Read it with the scenario-pack version that wrote it, or re-run the run."
        )
    return MixResults.from_json(data) if data.get("kind") == "mix" else RunResults.from_json(data)


def write(path: Path, results: RunResults | MixResults) -> None:
    atomic.write_json(path, results.to_json())
