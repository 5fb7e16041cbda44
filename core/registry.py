"""Scenario discovery through the `scenario_pack.scenarios` entry point group.

Built-in scenarios register exactly like third-party ones. Names come from the entry points, so
listing needs no import; a plugin that fails to import is reported, never crashes the CLI.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from .errors import RegistryError
from .scenario import Scenario

GROUP = "scenario_pack.scenarios"


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
    try:
        obj = eps[name].load()
    except Exception as exc:  # a broken plugin must be reported, not crash the CLI
        raise RegistryError(
            f"scenario '{name}' ({eps[name].value}) failed to load: {type(exc).__name__}: {exc}. "
            "Reinstall or fix that package."
        ) from exc
    if not isinstance(obj, Scenario):
        raise RegistryError(
            f"scenario '{name}' ({eps[name].value}) is a {type(obj).__name__}, not a Scenario object. "
            "Its entry point must name a scenario_pack.core.scenario.Scenario instance."
        )
    return obj


def listing() -> list[Listing]:
    out = []
    for name in names():
        try:
            out.append(Listing(name, load(name).description))
        except RegistryError as exc:
            out.append(Listing(name, "", str(exc)))
    return out
