from importlib.metadata import EntryPoint

import pytest
from click.testing import CliRunner

from scenario_pack.core import registry
from scenario_pack.core.cli import cli
from scenario_pack.core.errors import RegistryError


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, extra: dict[str, str]) -> None:
    real = registry._entry_points()
    fakes = {name: EntryPoint(name, value, registry.GROUP) for name, value in extra.items()}
    monkeypatch.setattr(registry, "_entry_points", lambda: {**real, **fakes})


def test_builtin_scenario_registers_through_entry_points() -> None:
    assert "support" in registry.names()
    assert registry.load("support").name == "support"


def test_unknown_scenario_lists_known_ones() -> None:
    with pytest.raises(
        RegistryError, match="unknown scenario 'suport'. Did you mean 'support'.*Known scenarios: .*support"
    ):
        registry.load("suport")


def test_broken_plugin_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, {"broken": "no_such_module_xyz:scenario", "wrong": "json:dumps"})
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0
    assert "support" in result.output
    assert (
        "broken         ERROR: scenario 'broken'" in result.output and "ModuleNotFoundError" in result.output
    )
    assert "is a function, not a Scenario object" in result.output
    assert CliRunner().invoke(cli, ["list", "--strict"]).exit_code != 0


def test_fake_scenario_registered_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, {"support-copy": "scenario_pack.scenarios.support:scenario"})
    assert registry.load("support-copy").description.startswith("Customer support")
