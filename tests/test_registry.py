import dataclasses
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core.cli import cli
from scenario_pack.core.errors import RegistryError
from scenario_pack.core.plugins import registry


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


PLUGIN_MODULES = {
    # one real distribution with good and broken scenarios, found through its dist-info like any install
    "plugin_scenarios": """
from pathlib import Path
from scenario_pack.core.plugins.scenario import Field, Metric, Scenario, mean_of

def make(name, **changes):
    spec = dict(
        name=name, description=f"third-party {name}", version="1", package_dir=Path(__file__).parent,
        fields=(Field("text", str, "the input"),), input_field="text",
        metrics=(Metric("score", "higher", "a score", mean_of("score"), primary=True),),
    )
    return Scenario(**{**spec, **changes})

valid = make("valid")
no_fields = make("no_fields", fields=())
bad_input = make("bad_input", input_field="body", slice_fields="text")
up = Metric("score", "up", "a score", mean_of("score"), primary=True)
bad_direction = make("bad_direction", metrics=(up,))
no_primary = make("no_primary", metrics=(Metric("score", "higher", "a score", mean_of("score")),))
""",
    "plugin_import_error": "import no_such_dependency_xyz\n",
    "plugin_exits": "raise SystemExit(3)\n",
}
PLUGIN_ENTRY_POINTS = {
    "valid": "plugin_scenarios:valid",
    "no_fields": "plugin_scenarios:no_fields",
    "bad_input": "plugin_scenarios:bad_input",
    "bad_direction": "plugin_scenarios:bad_direction",
    "no_primary": "plugin_scenarios:no_primary",
    "not_scenario": "plugin_scenarios:make",
    "import_error": "plugin_import_error:scenario",
    "exits": "plugin_exits:scenario",
}


@pytest.fixture
def installed_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A plugin distribution on sys.path: its modules and a dist-info with entry_points.txt."""
    site = tmp_path / "site"
    info = site / "plugin_scenarios-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-scenarios\nVersion: 0.1\n")
    lines = [f"{name} = {value}" for name, value in PLUGIN_ENTRY_POINTS.items()]
    (info / "entry_points.txt").write_text(f"[{registry.GROUP}]\n" + "\n".join(lines) + "\n")
    for module, source in PLUGIN_MODULES.items():
        (site / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(site))
    yield
    for module in PLUGIN_MODULES:
        sys.modules.pop(module, None)


def test_broken_plugins_are_one_error_line_each(installed_plugins: None) -> None:
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert set(lines) == set(PLUGIN_ENTRY_POINTS) | {"support", "content", "code"}
    assert lines["valid"].split(maxsplit=1)[1] == "third-party valid"
    assert "Customer support tickets" in lines["support"]
    expected = {
        "import_error": "failed to load: ModuleNotFoundError: No module named 'no_such_dependency_xyz'. "
        "Reinstall or fix that package.",
        "exits": "failed to load: SystemExit: 3.",
        "not_scenario": "is a function, not a Scenario object.",
        "no_fields": "is not a valid scenario: it declares no fields; list its row schema as Field(...) "
        "objects in fields; input_field 'text' is not among its fields (none).",
        "bad_input": "is not a valid scenario: slice_fields must be a tuple, got 'text'; "
        "input_field 'body' is not among its fields (text).",
        "bad_direction": "is not a valid scenario: metric 'score' has direction 'up'; "
        "use 'higher' or 'lower'.",
        "no_primary": "is not a valid scenario: no metric is marked primary=True; mark the one that "
        "headlines the report.",
    }
    for name, message in expected.items():
        where = f"scenario '{name}' ({PLUGIN_ENTRY_POINTS[name]})"
        assert lines[name].startswith(f"{name:<14} ERROR: {where} {message}"), lines[name]
    assert CliRunner().invoke(cli, ["list", "--strict"]).exit_code != 0


def test_broken_plugins_leave_other_commands_working(installed_plugins: None) -> None:
    result = CliRunner().invoke(cli, ["run", "support", "--help"])
    assert result.exit_code == 0 and "--data" in result.output
    listing = CliRunner().invoke(cli, ["run", "--help"])
    assert listing.exit_code == 0, listing.output
    assert "ERROR: scenario 'no_primary'" in listing.output and "third-party valid" in listing.output
    broken = CliRunner().invoke(cli, ["validate", "bad_direction", "--help"])
    assert broken.exit_code == 2 and "metric 'score' has direction 'up'" in broken.output
    assert registry.load("valid").description == "third-party valid"


@pytest.mark.parametrize("name", ["support", "content", "code"])
def test_builtin_scenarios_pass_the_contract_checks(name: str) -> None:
    assert registry.check(registry.load(name)) == []


def test_contract_checks_name_every_problem() -> None:
    good = registry.load("support")
    broken = dataclasses.replace(
        good,
        fields=(*good.fields, "channel"),
        target_fields=("intent", "answer"),
        metrics=(*good.metrics, good.metrics[0]),
    )
    assert registry.check(broken) == [
        "fields holds 'channel', not Field(...) objects",
        "target_fields 'answer' is not among its fields (ticket, intent, response, id, subject, product, "
        "channel, customer_segment, history, thread)",
        "metric name(s) intent_accuracy used more than once; make them unique",
        "metrics intent_accuracy, intent_accuracy are all marked primary; mark exactly one",
    ]
