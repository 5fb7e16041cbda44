"""Scenario discovery through the `scenario_pack.scenarios` entry point group.

Built-in scenarios register exactly like third-party ones. Names come from the entry points, so
listing needs no import; a plugin that fails to import, or whose scenario object breaks the
contract (see `check`), is reported, never crashes the CLI.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import get_args

from ..errors import RegistryError
from .scenario import Direction, Field, Metric, Scenario

GROUP = "scenario_pack.scenarios"
DIRECTIONS: tuple[str, ...] = get_args(Direction)


@dataclass(frozen=True)
class Listing:
    name: str
    description: str
    error: str | None = None


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> list[str]:
    return sorted(_entry_points())


def load(name: str) -> Scenario:
    eps = _entry_points()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        close = difflib.get_close_matches(name, list(eps), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise RegistryError(
            f"unknown scenario '{name}'.{hint} Known scenarios: {known}. "
            "Run 'scenario list' to see them, or install a scenario package that registers it."
        )
    where = f"scenario '{name}' ({eps[name].value})"
    try:
        obj = eps[name].load()
    except (Exception, SystemExit) as exc:  # a broken plugin must be reported, not crash the CLI
        detail = " ".join(str(exc).split())  # one line, whatever the plugin raised
        raise RegistryError(
            f"{where} failed to load: {type(exc).__name__}: {detail}. Reinstall or fix that package."
        ) from exc
    if not isinstance(obj, Scenario):
        raise RegistryError(
            f"{where} is a {type(obj).__name__}, not a Scenario object. "
            "Its entry point must name a scenario_pack.core.plugins.scenario.Scenario instance."
        )
    problems = check(obj)
    if problems:
        raise RegistryError(
            f"{where} is not a valid scenario: {'; '.join(problems)}. Fix that package's scenario object."
        )
    return obj


def check(scenario: Scenario) -> list[str]:
    """Contract breaks that would otherwise surface mid-run (a KeyError on a field no row has, a
    report without a headline number, a delta read the wrong way round), found when it loads."""
    return _check_fields(scenario) + _check_metrics(scenario)


def _sequence(problems: list[str], attribute: str, value: object, kind: type) -> list:
    """The items of a declared tuple that are of `kind`; anything else is recorded as a problem."""
    if not isinstance(value, tuple | list):
        problems.append(f"{attribute} must be a tuple, got {value!r}")
        return []
    strays = [repr(item) for item in value if not isinstance(item, kind)]
    if strays:
        problems.append(f"{attribute} holds {', '.join(strays)}, not {kind.__name__}(...) objects")
    return [item for item in value if isinstance(item, kind)]


def _check_fields(scenario: Scenario) -> list[str]:
    problems: list[str] = []
    known = [f.name for f in _sequence(problems, "fields", scenario.fields, Field)]
    if not known:
        problems.append("it declares no fields; list its row schema as Field(...) objects in fields")
    declared = [("input_field", scenario.input_field)]
    declared += [(a, getattr(scenario, a)) for a in ("label_field", "group_field") if getattr(scenario, a)]
    for attribute in ("target_fields", "slice_fields"):
        names = _sequence(problems, attribute, getattr(scenario, attribute), str)
        declared += [(attribute, name) for name in names]
    for attribute, name in declared:
        if name not in known:
            problems.append(f"{attribute} {name!r} is not among its fields ({', '.join(known) or 'none'})")
    return problems


def _check_metrics(scenario: Scenario) -> list[str]:
    problems: list[str] = []
    metrics = _sequence(problems, "metrics", scenario.metrics, Metric)
    if not metrics:
        problems.append("it declares no metrics; add at least one Metric(...) and mark it primary=True")
    for metric in metrics:
        if metric.direction not in DIRECTIONS:
            problems.append(
                f"metric {metric.name!r} has direction {metric.direction!r}; "
                f"use {' or '.join(map(repr, DIRECTIONS))}"
            )
    repeated = sorted(n for n, count in Counter(m.name for m in metrics).items() if count > 1)
    if repeated:
        problems.append(f"metric name(s) {', '.join(repeated)} used more than once; make them unique")
    primary = [m.name for m in metrics if m.primary]
    if metrics and not primary:
        problems.append("no metric is marked primary=True; mark the one that headlines the report")
    if len(primary) > 1:
        problems.append(f"metrics {', '.join(primary)} are all marked primary; mark exactly one")
    return problems


def listing() -> list[Listing]:
    out = []
    for name in names():
        try:
            out.append(Listing(name, load(name).description))
        except RegistryError as exc:
            out.append(Listing(name, "", str(exc)))
    return out
