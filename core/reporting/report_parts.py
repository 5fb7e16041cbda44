"""The parts both kinds of report.json (a run's and a run-mix's) share: the schema version and the
records of the model, data, machine and training behind the numbers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

SCHEMA_VERSION = 1

Json = dict[str, Any]
Interval = tuple[float | None, float | None]


def record_fields(data: Json, cls: type) -> Json:
    """The keys of `data` that are fields of `cls` (a flat record whose JSON is its fields)."""
    return {f.name: data[f.name] for f in fields(cls) if f.name in data}


def pair(values: list[float | None]) -> Interval:
    """A JSON [low, high] as the tuple a record holds."""
    low, high = values
    return low, high


@dataclass(frozen=True)
class ModelInfo:
    """The base model: its name as given, and where it came from when that needs saying."""

    name: str
    source: str | None = None


@dataclass(frozen=True)
class RowCounts:
    train: int
    validation: int
    test: int


@dataclass(frozen=True)
class DataSummary:
    """The rows a run used: files and hashes, split sizes, what validation dropped or redacted."""

    train_file: str
    train_sha256: str
    test_file: str | None
    test_sha256: str | None
    rows: RowCounts
    duplicates_dropped: int
    redacted: dict[str, int] | str  # counts per kind of private data, or "off" (--no-redact)
    stratified: bool
    token_lengths: dict[str, float] | None = None  # None (and no key) when tokens were not counted
    truncated: int | None = None
    fields: dict[str, str] | None = None  # the schema fields training rows fill: their descriptions

    def to_json(self) -> Json:
        return {
            "train_file": self.train_file,
            "train_sha256": self.train_sha256,
            "test_file": self.test_file,
            "test_sha256": self.test_sha256,
            "rows": asdict(self.rows),
            "duplicates_dropped": self.duplicates_dropped,
            "redacted": self.redacted,
            "stratified": self.stratified,
            **self._tokens(),
            **self._fields(),
        }

    def to_mix_json(self) -> Json:
        """A run-mix section's form: no test hash, and its own key order."""
        return {
            "train_file": self.train_file,
            "train_sha256": self.train_sha256,
            "test_file": self.test_file,
            "rows": asdict(self.rows),
            "stratified": self.stratified,
            "duplicates_dropped": self.duplicates_dropped,
            "redacted": self.redacted,
            **self._tokens(),
            **self._fields(),
        }

    def _tokens(self) -> Json:
        if self.token_lengths is None:
            return {}
        return {"token_lengths": self.token_lengths, "truncated": self.truncated}

    def _fields(self) -> Json:
        return {} if self.fields is None else {"fields": self.fields}

    @classmethod
    def from_json(cls, data: Json) -> DataSummary:
        values = record_fields(data, cls) | {"rows": RowCounts(**data["rows"])}
        return cls(**values | {"test_sha256": data.get("test_sha256")})  # a mix section has none


@dataclass(frozen=True)
class HardwareSummary:
    device: str
    cpu_model: str
    cpu_flags: tuple[str, ...]  # the SIMD and matrix flags that decide speed and precision
    cores: int
    accelerator: str | None
    cpu_bf16: bool
    description: str
    precision: str

    def to_json(self) -> Json:
        return {**asdict(self), "cpu_flags": list(self.cpu_flags)}

    @classmethod
    def from_json(cls, data: Json) -> HardwareSummary:
        return cls(**{**record_fields(data, cls), "cpu_flags": tuple(data["cpu_flags"])})


OPTIONAL_TRAINING = ("loss_curves", "per_group")  # keys written only when there is something to say


@dataclass(frozen=True)
class TrainingSummary:
    """One fine-tune, as the training stage saved it (stages/<name>_train.json)."""

    method: str
    precision: str
    processes: int | None = None
    steps: int | None = None
    seconds: float | None = None
    train_tokens: int | None = None
    tokens_per_second: float | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    final_train_loss: float | None = None
    final_eval_loss: float | None = None
    best_eval_loss: float | None = None
    best_step: int | None = None
    stopped_early: bool | None = None
    overfitting: str | None = None  # a warning in words, when validation loss rose
    loss_curves: dict[str, list[list[float]]] | None = None  # None (and no key) in per-adapter summaries
    per_group: dict[str, TrainingSummary] | None = None  # after --per-<group>: one per group value

    def to_json(self) -> Json:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in OPTIONAL_TRAINING}
        if self.loss_curves is not None:
            out["loss_curves"] = self.loss_curves
        if self.per_group is not None:
            out["per_group"] = {value: summary.to_json() for value, summary in self.per_group.items()}
        return out

    @classmethod
    def from_json(cls, data: Json) -> TrainingSummary:
        values = record_fields(data, cls) | {"precision": data.get("precision", "fp32")}  # older runs
        if "per_group" in values:
            values["per_group"] = {value: cls.from_json(s) for value, s in values["per_group"].items()}
        return cls(**values)
