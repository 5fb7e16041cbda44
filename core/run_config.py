"""The typed run config: one frozen dataclass per section, each key with its default and help.

Stages read `config.train.method`; core/config.py layers and validates the YAML and flags that
build one, with the key types and choices derived from these classes.
"""

from __future__ import annotations

import copy
import types
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any, get_args, get_origin, get_type_hints


@dataclass(frozen=True)
class Key:
    """One config key: its type(s), default and a one-line help."""

    types: tuple[type, ...]
    default: Any
    help: str
    choices: tuple[str, ...] | None = None


DEFAULT_MODEL = "smollm2-135m-instruct"


def key(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A typed section field; its help and choices feed validation and `scenario config`."""
    metadata = {"help": help, "choices": choices}
    if isinstance(default, list):  # a fresh list per config
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ModelConfig:
    name: str = key(DEFAULT_MODEL, "default name, Hugging Face model id, or local checkpoint path")
    precision: str = key(
        "auto",
        "compute precision; auto uses bf16 only where the hardware has it",
        ("auto", "fp32", "bf16", "fp16"),
    )
    chat_template: str | None = key(
        None,
        "Jinja chat template file for a base model without one (null: the model's own); saved with "
        "the adapter",
    )


@dataclass(frozen=True)
class DataConfig:
    test_size: float | int = key(0.2, "held-out share (or count) when no --test file is given")
    val_size: float | int = key(0.1, "validation share (or count) carved from the training rows")
    limit: int | None = key(None, "use only the first N rows of --data (quick trials)")
    max_length: int = key(512, "max tokens per training example (prompt + completion)")
    redact: bool = key(True, "replace emails, phones, card numbers, IBANs, SSNs in free text")
    allow_leakage: bool = key(
        False, "measure even when test rows (near-)duplicate training rows (see quality.py)"
    )
    map: list = key([], "field=column renames of a Hub dataset's columns (--data hf:ORG/NAME)")


@dataclass(frozen=True)
class TrainConfig:
    method: str = key("lora", "fine-tuning method", ("lora", "full", "prompt-tuning"))
    epochs: int | float = key(1, "passes over the training rows")
    max_steps: int | None = key(None, "stop after this many optimizer steps (overrides epochs)")
    lr: float | None = key(None, "peak learning rate (null: the method's default, see training.py)")
    batch_size: int = key(
        2, "examples per forward pass on each device (memory grows with it, learning does not)"
    )
    grad_accum: int = key(4, "forward passes per optimizer step (batch_size x grad_accum per step)")
    warmup_ratio: float = key(0.05, "share of steps spent warming the learning rate up")
    weight_decay: float = key(0.0, "AdamW weight decay")
    lora_r: int = key(16, "LoRA rank")
    lora_alpha: int = key(32, "LoRA alpha (scale = alpha / r)")
    lora_dropout: float = key(0.0, "LoRA dropout (its random masks took ~20% of a CPU step)")
    lora_targets: str | list = key("all-linear", "modules LoRA adapts ('all-linear' or a list of names)")
    lora_layers: int | float | None = key(
        None,
        "adapt only the top N transformer layers, or this share of them (null: all); the backward "
        "pass then stops below them",
    )
    replay_gib: float = key(
        1.0,
        "memory for what the layers below LoRA's compute per row, so a second epoch or validation "
        "pass skips them (0: off)",
    )
    prompt_tokens: int = key(20, "virtual tokens for prompt tuning")
    gradient_checkpointing: bool = key(False, "trade compute for memory")
    packing: bool = key(False, "pack examples padding-free (no attention across examples)")
    group_by_length: bool = key(
        False, "batch examples of similar length together (less padding, less compute)"
    )
    eval_steps: int | None = key(None, "validation loss every N steps (null: four times per run)")
    early_stopping_patience: int = key(
        2, "stop after N evaluations without a lower validation loss (0: never)"
    )
    report_to: str = key(
        "none",
        "experiment tracker for the losses and the scenario's metrics",
        ("none", "tensorboard", "wandb", "mlflow"),
    )
    per_group: bool = key(False, "also train one adapter per value of the scenario's group field and compare")


@dataclass(frozen=True)
class EvalConfig:
    max_new_tokens: int = key(128, "generation budget per answer")
    batch_size: int = key(96, "most prompts generated together")
    cache_gib: float = key(
        1.75,
        "most memory a batch's KV cache may take, GiB: long prompts or a larger model make batches "
        "of fewer rows",
    )
    repetition_penalty: float | int = key(
        1.0, "greedy decoding's penalty on tokens already generated (1.0: none)"
    )
    no_repeat_ngram_size: int = key(0, "forbid repeating any n-gram of this size (0: off)")
    samples: int = key(0, "extra sampled answers per row, for pass@k-style metrics (0: none)")
    temperature: float | int = key(0.8, "sampling temperature of those extra answers")
    baseline: str = key(
        "few-shot",
        "prompting baseline beside base and tuned: few-shot (3 nearest training rows), few-shot:K, none",
    )
    bootstrap: int = key(1000, "paired bootstrap resamples for the delta intervals")
    examples: int = key(3, "best and worst examples shown in the report")
    slice_by: list | None = key(None, "row fields to report every metric by (null: the scenario's own)")


@dataclass(frozen=True)
class RunSettings:
    seed: int = key(42, "seed for the split, training and bootstrap")
    output: str | None = key(None, "run folder (default reports/<scenario>/<run-id>)")


SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "data": DataConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    "run": RunSettings,
}


@dataclass(frozen=True)
class RunConfig:
    """A resolved run config. Stages read it as `config.train.method`; `scenario` is the plugin's own
    section, a plain mapping its scenario reads (treat it as read-only)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    run: RunSettings = field(default_factory=RunSettings)
    scenario: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """A saved config (config.yaml, report.json); keys added since it was saved take their defaults."""
        sections = {
            name: section(**{k: v for k, v in data.get(name, {}).items() if k in _field_names(section)})
            for name, section in SECTIONS.items()
        }
        return cls(**sections, scenario=copy.deepcopy(data.get("scenario", {})))

    def to_dict(self) -> dict[str, Any]:
        return {
            **{name: asdict(getattr(self, name)) for name in SECTIONS},
            "scenario": copy.deepcopy(self.scenario),
        }

    def with_values(self, values: dict[str, Any]) -> RunConfig:
        """A copy with `section.key` values set (a sweep's chosen settings, a command's own needs)."""
        nested: dict[str, dict[str, Any]] = {}
        for dotted, value in values.items():
            section, name = dotted.split(".", 1)
            nested.setdefault(section, {})[name] = value
        changed = {
            section: {**self.scenario, **names}
            if section == "scenario"
            else replace(getattr(self, section), **names)
            for section, names in nested.items()
        }
        return replace(self, **changed)


def _field_names(section: type) -> set[str]:
    return {f.name for f in fields(section)}


def _types(hint: Any) -> tuple[type, ...]:
    """The isinstance types of an annotation: `int | None` -> (int, NoneType), `list[str]` -> (list,)."""
    options = get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return tuple(get_origin(t) or t for t in options)


def _default(f: Any) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


def _schema(section: type) -> dict[str, Key]:
    hints = get_type_hints(section)
    return {
        f.name: Key(_types(hints[f.name]), _default(f), f.metadata["help"], f.metadata["choices"])
        for f in fields(section)
    }


CORE_SCHEMA: dict[str, dict[str, Key]] = {name: _schema(section) for name, section in SECTIONS.items()}
