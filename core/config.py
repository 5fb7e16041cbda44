"""Run configuration: layered, validated, and saved with every run.

Layers, later wins: core defaults < scenario defaults < --config run.yaml < --set / CLI flags.
Keys are scenario-pack's own and stable; training/trainer.py is the one place that maps them to
TRL/PEFT. The result is a typed, frozen run_config.RunConfig.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .evaluation.few_shot import Baseline
from .run_config import CORE_SCHEMA, Key, RunConfig

EXPONENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")  # 5e-4, which YAML 1.1 reads as text
# Keys that were renamed, with what a config that still sets them should say instead.
RENAMED = {
    "eval.batch_tokens": "eval.cache_gib, the KV cache a batch may take in GiB (the default model's "
    "40,960 tokens in fp32 are 1.76 GiB)",
}


def scenario_schema(defaults: dict[str, Any]) -> dict[str, Key]:
    """A scenario's own `scenario:` section: its declared keys, typed by their default."""
    return {
        name: Key((type(value), type(None)) if value is not None else (str, type(None)), value, "")
        for name, value in defaults.items()
    }


def _defaults(scenario_section: dict[str, Any] | None = None) -> dict[str, Any]:
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
                renamed = RENAMED.get(f"{section}.{key}")
                hint = f" It is now {renamed}." if renamed else _suggest(key, list(schema[section]))
                errors.append(f"{where} is not a known key.{hint}")
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
) -> RunConfig:
    """Build the run config from every layer; raise one ConfigError listing all problems."""
    scenario_section = scenario_defaults.get("scenario", {})
    schema = {**CORE_SCHEMA, "scenario": scenario_schema(scenario_section)}
    config = _defaults(scenario_section)
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
    return RunConfig.from_dict(config)


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
    if train["replay_gib"] < 0:
        errors.append(f"train.replay_gib={train['replay_gib']}: use 0 (off) or the GiB to keep at most.")
    if config["eval"]["cache_gib"] <= 0:
        errors.append(f"eval.cache_gib={config['eval']['cache_gib']}: must be positive (GiB of KV cache).")
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


def save(config: RunConfig | dict[str, Any]) -> str:
    return yaml.safe_dump(config.to_dict() if isinstance(config, RunConfig) else config, sort_keys=False)
