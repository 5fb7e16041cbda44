"""What a run-mix's report.json holds, as typed records (kind "mix").

Each scenario is compared on its own held-out rows: base, its single-task adapter and the one mix
adapter. As with a run's results, `to_json` writes exactly schema 1's keys and order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..evaluation.statistics import Verdict
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
class MixMetric:
    """One metric of one scenario; every verdict is on the same rows, so one few-rows flag."""

    direction: str
    description: str
    primary: bool
    range: tuple[float, float] | None
    base: float | None
    single: float | None
    mix: float | None
    delta: float | None  # mix - single
    ci95: Interval
    verdict: Verdict  # the mix adapter against the single-task adapter
    single_vs_base: Verdict
    mix_vs_base: Verdict
    few_rows: bool

    def to_json(self) -> Json:
        return {
            "direction": self.direction,
            "description": self.description,
            "primary": self.primary,
            "range": list(self.range) if self.range else None,
            "base": self.base,
            "single": self.single,
            "mix": self.mix,
            "delta": self.delta,
            "ci95": list(self.ci95),
            "verdict": self.verdict.label(self.few_rows),
            "single_vs_base": self.single_vs_base.label(self.few_rows),
            "mix_vs_base": self.mix_vs_base.label(self.few_rows),
        }

    @classmethod
    def from_json(cls, data: Json) -> MixMetric:
        verdict, few_rows = Verdict.parse(data["verdict"])
        return cls(
            **{k: data[k] for k in ("direction", "description", "primary", "base", "single", "mix", "delta")},
            range=pair(data["range"]) if data["range"] else None,
            ci95=pair(data["ci95"]),
            verdict=verdict,
            single_vs_base=Verdict.parse(data["single_vs_base"])[0],
            mix_vs_base=Verdict.parse(data["mix_vs_base"])[0],
            few_rows=few_rows,
        )


@dataclass(frozen=True)
class MixShare:
    """A scenario's share of the mix: its training rows, weight and the examples that made."""

    rows: int
    weight: float
    examples: int


@dataclass(frozen=True)
class MixScenario:
    """One scenario's section: its data, share, metrics and the sentence on who won."""

    version: str
    templates: dict[str, str]
    data: DataSummary
    mixing: MixShare
    primary_metric: str
    summary: str
    metrics: dict[str, MixMetric]
    context: Json
    warnings: tuple[str, ...]

    def to_json(self) -> Json:
        return {
            "version": self.version,
            "templates": self.templates,
            "data": self.data.to_mix_json(),
            "mixing": asdict(self.mixing),
            "primary_metric": self.primary_metric,
            "summary": self.summary,
            "metrics": {name: m.to_json() for name, m in self.metrics.items()},
            "context": self.context,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: Json) -> MixScenario:
        return cls(
            **{k: data[k] for k in ("version", "templates", "primary_metric", "summary", "context")},
            data=DataSummary.from_json(data["data"]),
            mixing=MixShare(**data["mixing"]),
            metrics={name: MixMetric.from_json(entry) for name, entry in data["metrics"].items()},
            warnings=tuple(data["warnings"]),
        )


@dataclass(frozen=True)
class MixAdapter:
    """One adapter a mix trained: where it is, on how many examples, and its training summary."""

    folder: str
    examples: int
    training: TrainingSummary

    def to_json(self) -> Json:
        return {"folder": self.folder, "examples": self.examples, **self.training.to_json()}

    @classmethod
    def from_json(cls, data: Json) -> MixAdapter:
        return cls(data["folder"], data["examples"], TrainingSummary.from_json(data))


@dataclass(frozen=True)
class MixTraining:
    """The one training config every adapter of the mix used, and the adapters it made."""

    method: str
    precision: str
    defaults: str  # which defaults applied, in words
    overrides: dict[str, object]
    scenario_defaults_not_applied: dict[str, dict[str, object]]
    mix_file: str | None
    single_adapters: dict[str, MixAdapter]
    mix_adapter: MixAdapter

    def to_json(self) -> Json:
        single = {name: a.to_json() for name, a in self.single_adapters.items()}
        return {
            **{k: getattr(self, k) for k in TRAINING_SETTINGS},
            "adapters": {"single": single, "mix": self.mix_adapter.to_json()},
        }

    @classmethod
    def from_json(cls, data: Json) -> MixTraining:
        adapters = data["adapters"]
        return cls(
            **{k: data[k] for k in TRAINING_SETTINGS},
            single_adapters={name: MixAdapter.from_json(a) for name, a in adapters["single"].items()},
            mix_adapter=MixAdapter.from_json(adapters["mix"]),
        )


TRAINING_SETTINGS = (
    "method",
    "precision",
    "defaults",
    "overrides",
    "scenario_defaults_not_applied",
    "mix_file",
)


@dataclass(frozen=True)
class MixResults:
    """A run-mix's report.json."""

    run_id: str
    created: str
    scenarios: dict[str, MixScenario]
    model: ModelInfo
    config: Json  # the one training config
    training: MixTraining
    hardware: HardwareSummary
    versions: dict[str, str]
    timings: dict[str, float]
    peak_memory_gib: float

    @property
    def summary(self) -> list[str]:
        """Who won where: each scenario's sentence on its primary metric."""
        return [section.summary for section in self.scenarios.values()]

    def to_json(self) -> Json:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "mix",
            "run_id": self.run_id,
            "created": self.created,
            "summary": self.summary,
            "scenarios": {name: s.to_json() for name, s in self.scenarios.items()},
            "model": asdict(self.model),
            "config": self.config,
            "training": self.training.to_json(),
            "hardware": self.hardware.to_json(),
            "versions": self.versions,
            "timings": self.timings,
            "peak_memory_gib": self.peak_memory_gib,
        }

    @classmethod
    def from_json(cls, data: Json) -> MixResults:
        return cls(
            **{k: data[k] for k in ("run_id", "created", "config", "versions", "timings", "peak_memory_gib")},
            scenarios={name: MixScenario.from_json(s) for name, s in data["scenarios"].items()},
            model=ModelInfo(**record_fields(data["model"], ModelInfo)),
            training=MixTraining.from_json(data["training"]),
            hardware=HardwareSummary.from_json(data["hardware"]),
        )
