"""What a `run-mix` is made of: which scenarios, their files and weights, and the configs they run with.

Everything here is checked before a model or a data file is opened, so a typo in a scenario name,
a NAME=FILE argument or a weight costs nothing. Each scenario keeps its own data, template and
evaluation settings (its test rows are exactly those `scenario run` would use); the training
settings are one for every adapter of the mix, so single-task and mix adapters differ only in their
training rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import config as config_mod
from ..errors import ConfigError
from ..plugins import registry
from ..plugins.scenario import Scenario

if TYPE_CHECKING:
    from ..run_config import RunConfig

# Sections shared by every adapter of a mix: a scenario's own defaults for them are not applied.
SHARED_SECTIONS = ("model", "train", "run")
ENTRY_KEYS = ("data", "test", "weight", "settings")
Overrides = Callable[[Scenario], list[tuple[str, dict[str, Any]]]]  # the command line's config layers


@dataclass
class Member:
    """One scenario of the mix: its files, weight, own settings and resolved config."""

    scenario: Scenario
    data: Path
    test: Path | None
    weight: float
    config: RunConfig

    @property
    def name(self) -> str:
        return self.scenario.name


@dataclass
class MixPlan:
    """The checked request: members (sorted by name) and the one training config they share."""

    members: list[Member]
    training_config: RunConfig  # the first member's config, with the shared sections' values
    not_applied: dict[str, dict[str, Any]]  # scenario -> its own model/train/run defaults left out
    overrides: dict[str, Any]  # section.key -> the user's value (mix file, flags, --set)
    mix_file: Path | None


def parse_assignment(text: str, flag: str, shape: str, example: str) -> tuple[str, str]:
    """Split NAME=VALUE; a missing '=' or an empty side is a usage error naming the argument."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise ConfigError(f"{flag} {text!r}: expected {shape}, for example {example}.")
    return name.strip(), value.strip()


def parse_weight(text: Any, where: str) -> float:
    try:
        weight = math.nan if isinstance(text, bool) else float(text)
    except (TypeError, ValueError):
        weight = math.nan
    if not math.isfinite(weight) or weight <= 0:
        raise ConfigError(
            f"{where}: weight {text!r} is not a positive number. Use e.g. 2 (twice the rows) or 0.5 (half)."
        )
    return weight


def _read_mix_file(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The file's `scenarios:` entries and its other sections (a run.yaml layer for every scenario)."""
    spec = config_mod.load_yaml(path)
    entries = spec.pop("scenarios", None)
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(
            f"{path}: needs a 'scenarios:' mapping, e.g. scenarios: {{support: {{data: tickets.jsonl}}}}."
        )
    if "scenario" in spec:
        raise ConfigError(
            f"{path}: a top-level 'scenario:' section would apply to every scenario; put each scenario's "
            "own settings under scenarios.NAME.settings instead."
        )
    for name, entry in entries.items():
        if entry is None:
            entries[name] = entry = {}
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: scenarios.{name} must be a mapping of {', '.join(ENTRY_KEYS)}.")
        for key in entry:
            if key not in ENTRY_KEYS:
                raise ConfigError(
                    f"{path}: scenarios.{name}.{key} is not a known key. Known: {', '.join(ENTRY_KEYS)}."
                )
        for key in ("data", "test"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise ConfigError(f"{path}: scenarios.{name}.{key} must be a file path, got {entry[key]!r}.")
        if not isinstance(entry.get("settings", {}), dict):
            raise ConfigError(
                f"{path}: scenarios.{name}.settings must be a mapping of that scenario's own settings."
            )
    return entries, spec


def _assignments(items: Sequence[str], flag: str, shape: str, example: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, value = parse_assignment(item, flag, shape, example)
        if name in out:
            raise ConfigError(f"{flag}: scenario '{name}' is given twice ({out[name]!r} and {value!r}).")
        out[name] = value
    return out


def plan(
    pairs: Sequence[str],
    tests: Sequence[str],
    weights: Sequence[str],
    mix_file: Path | None,
    overrides: Overrides,
) -> MixPlan:
    """Check the request and resolve one config per scenario; raise ConfigError or RegistryError."""
    entries, common = _read_mix_file(mix_file) if mix_file else ({}, {})
    where = str(mix_file) if mix_file else ""
    data = {n: e["data"] for n, e in entries.items() if e.get("data")}
    data.update(_assignments(pairs, "run-mix argument", "NAME=FILE", "support=tickets.jsonl"))
    test = {n: e["test"] for n, e in entries.items() if e.get("test")}
    test.update(_assignments(tests, "--test", "NAME=FILE", "support=held_out.jsonl"))
    weight = {
        n: parse_weight(e["weight"], f"{where}: scenarios.{n}") for n, e in entries.items() if "weight" in e
    }
    for name, value in _assignments(weights, "--weight", "NAME=W", "support=2").items():
        weight[name] = parse_weight(value, f"--weight {name}")
    names = sorted(set(data) | set(entries))
    if len(names) < 2:
        got = f"only '{names[0]}'" if names else "none"
        raise ConfigError(
            f"run-mix needs at least two scenarios, got {got}: a mix of one scenario is its single-task "
            "adapter, so there would be nothing to compare. Pass NAME=FILE for each scenario (or list them "
            "in --mix FILE), or use 'scenario run NAME --data FILE' for one scenario."
        )
    for flag, given in (("--test", test), ("--weight", weight)):
        stray = sorted(set(given) - set(names))
        if stray:
            raise ConfigError(
                f"{flag} names '{stray[0]}', which is not in the mix ({', '.join(names)}). "
                "Add it as NAME=FILE or fix the name."
            )
    members, not_applied = [], {}
    for name in names:
        if name not in data:
            raise ConfigError(
                f"{where}: scenarios.{name} has no data file. Add 'data: FILE' there or pass {name}=FILE."
            )
        scenario = registry.load(name)
        settings = entries.get(name, {}).get("settings") or {}
        layers = [(where, {**common, "scenario": settings})] if mix_file else []
        own = scenario.defaults()
        try:
            config = config_mod.resolve(
                {k: v for k, v in own.items() if k not in SHARED_SECTIONS}, None, layers + overrides(scenario)
            )
        except ConfigError as exc:
            raise ConfigError(f"scenario '{name}': {exc}") from exc
        not_applied[name] = _flatten({k: v for k, v in own.items() if k in SHARED_SECTIONS})
        members.append(
            Member(
                scenario,
                Path(data[name]),
                Path(test[name]) if name in test else None,
                weight.get(name, 1.0),
                config,
            )
        )
    user_layers = ([(where, common)] if mix_file else []) + overrides(members[0].scenario)
    return MixPlan(
        members,
        training_config(members),
        {k: v for k, v in not_applied.items() if v},
        _flatten_layers([layer for _, layer in user_layers]),
        mix_file,
    )


def training_config(members: list[Member]) -> RunConfig:
    """The settings every adapter trains with: the shared sections, and the longest max_length of
    the members (so no scenario's examples are cut shorter than in its own run)."""
    longest = max(m.config.data.max_length for m in members)
    return members[0].config.with_values({"data.max_length": longest})


def saved_config(config: RunConfig) -> dict[str, Any]:
    """What a mix saves of its training config: the shared sections and max_length; the other
    sections are each member's own (saved in its folder)."""
    everything = config.to_dict()
    return {
        **{section: everything[section] for section in SHARED_SECTIONS},
        "data": {"max_length": config.data.max_length},
    }


def _flatten(sections: dict[str, Any]) -> dict[str, Any]:
    return {
        f"{section}.{key}": value
        for section, values in sections.items()
        if isinstance(values, dict)
        for key, value in values.items()
    }


def _flatten_layers(layers: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        out.update(_flatten({k: v for k, v in layer.items() if k != "scenario"}))
    return dict(sorted(out.items()))
