"""Run configuration: layered, validated, and saved with every run.

Layers, later wins: core defaults < scenario defaults < --config run.yaml < --set / CLI flags.
Keys are scenario-pack's own and stable; `training.py` is the one place that maps them to TRL/PEFT.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .evaluation.few_shot import Baseline


@dataclass(frozen=True)
class Key:
    """One config key: its type(s), default and a one-line help."""

    types: tuple[type, ...]
    default: Any
    help: str
    choices: tuple[str, ...] | None = None


DEFAULT_MODEL = "smollm2-135m-instruct"
EXPONENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")  # 5e-4, which YAML 1.1 reads as text

CORE_SCHEMA: dict[str, dict[str, Key]] = {
    "model": {
        "name": Key((str,), DEFAULT_MODEL, "default name, Hugging Face model id, or local checkpoint path"),
        "precision": Key(
            (str,),
            "auto",
            "compute precision; auto uses bf16 only where the hardware has it",
            ("auto", "fp32", "bf16", "fp16"),
        ),
        "chat_template": Key(
            (str, type(None)),
            None,
            "Jinja chat template file for a base model without one (null: the model's own); saved with "
            "the adapter",
        ),
    },
    "data": {
        "test_size": Key((float, int), 0.2, "held-out share (or count) when no --test file is given"),
        "val_size": Key((float, int), 0.1, "validation share (or count) carved from the training rows"),
        "limit": Key((int, type(None)), None, "use only the first N rows of --data (quick trials)"),
        "max_length": Key((int,), 512, "max tokens per training example (prompt + completion)"),
        "redact": Key((bool,), True, "replace emails, phones, card numbers, IBANs, SSNs in free text"),
        "allow_leakage": Key(
            (bool,), False, "measure even when test rows (near-)duplicate training rows (see quality.py)"
        ),
        "map": Key((list,), [], "field=column renames of a Hub dataset's columns (--data hf:ORG/NAME)"),
    },
    "train": {
        "method": Key((str,), "lora", "fine-tuning method", ("lora", "full", "prompt-tuning")),
        "epochs": Key((int, float), 1, "passes over the training rows"),
        "max_steps": Key((int, type(None)), None, "stop after this many optimizer steps (overrides epochs)"),
        "lr": Key(
            (float, type(None)), None, "peak learning rate (null: the method's default, see training.py)"
        ),
        "batch_size": Key(
            (int,), 2, "examples per forward pass on each device (memory grows with it, learning does not)"
        ),
        "grad_accum": Key((int,), 4, "forward passes per optimizer step (batch_size x grad_accum per step)"),
        "warmup_ratio": Key((float,), 0.05, "share of steps spent warming the learning rate up"),
        "weight_decay": Key((float,), 0.0, "AdamW weight decay"),
        "lora_r": Key((int,), 16, "LoRA rank"),
        "lora_alpha": Key((int,), 32, "LoRA alpha (scale = alpha / r)"),
        "lora_dropout": Key((float,), 0.0, "LoRA dropout (its random masks took ~20% of a CPU step)"),
        "lora_targets": Key(
            (str, list), "all-linear", "modules LoRA adapts ('all-linear' or a list of names)"
        ),
        "lora_layers": Key(
            (int, float, type(None)),
            None,
            "adapt only the top N transformer layers, or this share of them (null: all); the backward "
            "pass then stops below them",
        ),
        "prompt_tokens": Key((int,), 20, "virtual tokens for prompt tuning"),
        "gradient_checkpointing": Key((bool,), False, "trade compute for memory"),
        "packing": Key((bool,), False, "pack examples padding-free (no attention across examples)"),
        "group_by_length": Key(
            (bool,), False, "batch examples of similar length together (less padding, less compute)"
        ),
        "eval_steps": Key(
            (int, type(None)), None, "validation loss every N steps (null: four times per run)"
        ),
        "early_stopping_patience": Key(
            (int,), 2, "stop after N evaluations without a lower validation loss (0: never)"
        ),
        "per_group": Key(
            (bool,), False, "also train one adapter per value of the scenario's group field and compare"
        ),
    },
    "eval": {
        "max_new_tokens": Key((int,), 128, "generation budget per answer"),
        "batch_size": Key((int,), 32, "most prompts generated together"),
        "batch_tokens": Key(
            (int,), 16384, "most prompt + answer tokens generated together (long prompts: smaller batches)"
        ),
        "repetition_penalty": Key(
            (float, int), 1.0, "greedy decoding's penalty on tokens already generated (1.0: none)"
        ),
        "no_repeat_ngram_size": Key((int,), 0, "forbid repeating any n-gram of this size (0: off)"),
        "samples": Key((int,), 0, "extra sampled answers per row, for pass@k-style metrics (0: none)"),
        "temperature": Key((float, int), 0.8, "sampling temperature of those extra answers"),
        "baseline": Key(
            (str,),
            "few-shot",
            "prompting baseline beside base and tuned: few-shot (3 nearest training rows), few-shot:K, none",
        ),
        "bootstrap": Key((int,), 1000, "paired bootstrap resamples for the delta intervals"),
        "examples": Key((int,), 3, "best and worst examples shown in the report"),
        "slice_by": Key(
            (list, type(None)), None, "row fields to report every metric by (null: the scenario's own)"
        ),
    },
    "run": {
        "seed": Key((int,), 42, "seed for the split, training and bootstrap"),
        "output": Key((str, type(None)), None, "run folder (default reports/<scenario>/<run-id>)"),
    },
}


def scenario_schema(defaults: dict[str, Any]) -> dict[str, Key]:
    """A scenario's own `scenario:` section: its declared keys, typed by their default."""
    return {
        name: Key((type(value), type(None)) if value is not None else (str, type(None)), value, "")
        for name, value in defaults.items()
    }


def defaults(scenario_section: dict[str, Any] | None = None) -> dict[str, Any]:
    config = {
        section: {k: copy.deepcopy(v.default) for k, v in keys.items()}
        for section, keys in CORE_SCHEMA.items()
    }
    config["scenario"] = copy.deepcopy(scenario_section or {})
    return config


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found. Check the path given to --config.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read config file ({exc}). Pass a readable UTF-8 YAML file."
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)}). Fix the syntax."
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of sections (model:, train:, ...), got {type(data).__name__}."
        )
    return data


def parse_set(assignments: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Turn `section.key=value` strings into a nested override; values are parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for item in assignments:
        dotted, sep, raw = item.partition("=")
        if not sep or "." not in dotted:
            raise ConfigError(f"--set {item!r}: expected section.key=value, for example --set train.lr=5e-4.")
        section, key = dotted.split(".", 1)
        out.setdefault(section, {})[key] = scalar(raw)
    return out


def scalar(raw: str) -> Any:
    """A command-line value as YAML reads it, except that 5e-4 is a number (YAML 1.1 wants 5.0e-4)."""
    if not raw.strip():
        return None
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if isinstance(value, str) and EXPONENT.match(value):
        return float(value)
    return value


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" Did you mean '{close[0]}'?" if close else f" Known: {', '.join(sorted(options))}."


def _check_value(where: str, key: Key, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and EXPONENT.match(value) and float in key.types:
        value = float(value)  # `lr: 1e-4` in a config file: YAML 1.1 reads it as text
    if isinstance(value, int) and not isinstance(value, bool) and float in key.types and int not in key.types:
        value = float(value)
    ok = isinstance(value, key.types) and not (isinstance(value, bool) and bool not in key.types)
    if not ok:
        wanted = " or ".join("null" if t is type(None) else t.__name__ for t in key.types)
        return value, f"{where}: expected {wanted}, got {value!r} ({type(value).__name__})."
    if key.choices and value not in key.choices:
        return value, f"{where}: {value!r} is not one of {', '.join(key.choices)}."
    return value, None


def merge(
    base: dict[str, Any], layer: dict[str, Any], source: str, schema: dict[str, dict[str, Key]]
) -> list[str]:
    """Apply one layer onto `base` in place; return every error found (not just the first)."""
    errors: list[str] = []
    for section, values in layer.items():
        if section not in schema:
            errors.append(f"{source}: unknown section '{section}'.{_suggest(section, list(schema))}")
            continue
        if not isinstance(values, dict):
            errors.append(f"{source}: section '{section}' must be a mapping of keys, got {values!r}.")
            continue
        for key, value in values.items():
            where = f"{source}: {section}.{key}"
            if key not in schema[section]:
                errors.append(f"{where} is not a known key.{_suggest(key, list(schema[section]))}")
                continue
            value, error = _check_value(where, schema[section][key], value)
            if error:
                errors.append(error)
            else:
                base[section][key] = value
    return errors


def resolve(
    scenario_defaults: dict[str, Any],
    config_file: Path | None = None,
    overrides: list[tuple[str, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Build the run config from every layer; raise one ConfigError listing all problems."""
    scenario_section = scenario_defaults.get("scenario", {})
    schema = {**CORE_SCHEMA, "scenario": scenario_schema(scenario_section)}
    config = defaults(scenario_section)
    layers: list[tuple[str, dict[str, Any]]] = [
        ("scenario defaults", {k: v for k, v in scenario_defaults.items() if k != "scenario"})
    ]
    if config_file is not None:
        layers.append((str(config_file), load_yaml(config_file)))
    layers.extend(overrides or [])
    errors: list[str] = []
    for source, layer in layers:
        errors.extend(merge(config, layer, source, schema))
    errors.extend(_check_combinations(config))
    if errors:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {e}" for e in errors))
    return config


def _check_combinations(config: dict[str, Any]) -> list[str]:
    errors = []
    data, train = config["data"], config["train"]
    for name in ("test_size", "val_size"):
        value = data[name]
        if value < 0 or (isinstance(value, float) and value >= 1):
            errors.append(f"data.{name}={value}: use a share in [0, 1) or a whole row count.")
    if train["max_steps"] is not None and train["max_steps"] <= 0:
        errors.append(f"train.max_steps={train['max_steps']}: must be positive, or null to use epochs.")
    if train["epochs"] <= 0:
        errors.append(f"train.epochs={train['epochs']}: must be positive.")
    for name in ("batch_size", "grad_accum", "lora_r", "prompt_tokens"):
        if train[name] <= 0:
            errors.append(f"train.{name}={train[name]}: must be a positive whole number.")
    layers = train["lora_layers"]
    if layers is not None and (layers <= 0 or (isinstance(layers, float) and layers > 1)):
        errors.append(f"train.lora_layers={layers}: use a layer count, a share in (0, 1], or null for all.")
    seed = config["run"]["seed"]
    if not 0 <= seed < 2**32:
        errors.append(f"run.seed={seed}: use a whole number from 0 to {2**32 - 1}.")
    if train["lr"] is not None and train["lr"] <= 0:
        errors.append(f"train.lr={train['lr']}: must be positive.")
    if data["max_length"] < 16:
        errors.append(f"data.max_length={data['max_length']}: too small to hold a prompt and an answer.")
    if data["limit"] is not None and data["limit"] <= 0:
        errors.append(f"data.limit={data['limit']}: must be positive.")
    if not all(isinstance(item, str) and "=" in item for item in data["map"]):
        errors.append(f"data.map={data['map']}: give a list of field=column texts, e.g. [ticket=text].")
    try:
        Baseline.parse(config["eval"]["baseline"])
    except ConfigError as exc:
        errors.append(str(exc))
    return errors


def save(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)
