"""`scenario new`: the skeleton installs, lists, validates, passes its own tests and runs; refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from scenario_pack.core.cli import cli
from scenario_pack.core.plugins import scaffolding

NAME = "note_digest"  # installed by the `package` fixture for the module's duration
OTHER = "ticket_tags"  # for tests that write a skeleton without installing it
DISTRIBUTION = "scenario-pack-note-digest"
CLI = [sys.executable, "-c", "from scenario_pack.core.cli import main; main()"]
FILES = {
    ".gitignore",
    "pyproject.toml",
    "README.md",
    "data/sample.jsonl",
    "tests/test_scenario.py",
    *(f"src/scenario_pack_{OTHER}/{name}" for name in ("__init__.py", "template.yaml", "defaults.yaml")),
}


def invoke_new(*args: str) -> Result:
    return CliRunner().invoke(cli, ["new", *args])


def pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def scenario(*args: str) -> subprocess.CompletedProcess:
    """The CLI in a new process, which sees the package installed after this test session started."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`scenario new`, then `pip install -e` into this environment; uninstalled afterwards.

    Built with build isolation: --no-build-isolation would use this venv's setuptools (65, from
    ensurepip), which cannot build an editable wheel without the `wheel` package."""
    pip("uninstall", "-y", DISTRIBUTION)  # left over from an interrupted session, if any
    target = tmp_path_factory.mktemp("scaffold") / NAME
    result = invoke_new(NAME, "--dir", str(target))
    assert result.exit_code == 0, result.output
    pip("install", "--no-deps", "-e", str(target))
    yield target
    pip("uninstall", "-y", DISTRIBUTION)


def test_new_writes_the_package_and_says_what_next(tmp_path: Path) -> None:
    target = tmp_path / OTHER
    result = invoke_new(OTHER, "--dir", str(target))
    assert result.exit_code == 0, result.output
    assert f"created scenario '{OTHER}' in {target} ({len(FILES)} files)" in result.output
    assert f"pip install -e {target}" in result.output
    assert {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()} == FILES
    rows = [json.loads(line) for line in (target / "data" / "sample.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and len({r["note"] for r in rows}) == 40
    assert f'{OTHER} = "scenario_pack_{OTHER}:scenario"' in (target / "pyproject.toml").read_text()
    code = (target / "src" / f"scenario_pack_{OTHER}" / "__init__.py").read_text()
    assert "class TicketTagsScenario(Scenario):" in code and f'name="{OTHER}"' in code
    assert list(tmp_path.iterdir()) == [target]  # no staging folder left beside it


def test_installed_package_is_listed_and_its_name_taken(package: Path, tmp_path: Path) -> None:
    result = scenario("list", "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{NAME:<14} Product notes to one-line customer summaries" in result.stdout
    assert "support" in result.stdout
    again = invoke_new(NAME, "--dir", str(tmp_path / "again"))
    assert again.exit_code == 2 and f"scenario name '{NAME}' is already taken" in again.output


def test_installed_package_validates_its_sample(package: Path, tiny_model: Path) -> None:
    data = package / "data" / "sample.jsonl"
    result = scenario("validate", NAME, "--data", str(data), "--model", str(tiny_model))
    assert result.returncode == 0, result.stderr
    assert f"40 rows valid for scenario '{NAME}'" in result.stdout
    assert "split: 29 train, 3 validation, 8 test" in result.stdout


def test_installed_package_passes_its_own_tests(package: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "7 passed" in result.stdout


def test_installed_package_runs_end_to_end(package: Path, tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = scenario(
        *("run", NAME, "--data", str(package / "data" / "sample.jsonl"), "--model", str(tiny_model)),
        *("--max-steps", "2", "--output", str(out), "-q"),
        *("--set", "eval.max_new_tokens=8", "--set", "eval.bootstrap=50", "--max-words", "12"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["scenario"]["name"] == NAME and report["primary_metric"] == "summary_rouge_l"
    metric = report["metrics"]["summary_rouge_l"]
    assert metric["direction"] == "higher" and 0.0 <= metric["tuned"] <= 1.0
    assert report["data"]["rows"]["test"] == 8
    assert yaml.safe_load((out / "config.yaml").read_text())["scenario"] == {"max_words": 12}


def test_refuses_a_non_empty_folder_and_leaves_it_alone(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    result = invoke_new(OTHER, "--dir", str(target))
    assert result.exit_code == 2
    assert f"error: {target} already exists and is not empty; refusing to overwrite it." in result.output
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_accepts_an_empty_folder_even_the_current_one_and_defaults_to_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert invoke_new(OTHER, "--dir", ".").exit_code == 0
    assert {p.relative_to(empty).as_posix() for p in empty.rglob("*") if p.is_file()} == FILES
    monkeypatch.chdir(tmp_path)
    result = invoke_new(OTHER)
    assert result.exit_code == 0, result.output
    assert (tmp_path / OTHER / "src" / f"scenario_pack_{OTHER}" / "__init__.py").is_file()
    assert f"pip install -e {OTHER}" in result.output


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("NoteDigest", "is not a lowercase Python identifier"),
        ("note-digest", "is not a lowercase Python identifier"),
        ("2notes", "is not a lowercase Python identifier"),
        ("class", "is a Python keyword"),
    ],
)
def test_refuses_a_bad_name(tmp_path: Path, name: str, message: str) -> None:
    result = invoke_new(name, "--dir", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert f"error: scenario name {name!r} {message}" in result.output
    assert not (tmp_path / "x").exists()


def test_refuses_an_installed_scenarios_name(tmp_path: Path) -> None:
    result = invoke_new("support", "--dir", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert "error: scenario name 'support' is already taken by an installed scenario" in result.output
    assert not (tmp_path / "x").exists()


def test_refuses_a_file_as_folder(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    result = invoke_new(OTHER, "--dir", str(tmp_path / "taken"))
    assert result.exit_code == 2 and f"{tmp_path / 'taken'} is a file, not a folder" in result.output


def test_failure_midway_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", disk_full)
    with pytest.raises(OSError, match="No space left"):
        scaffolding.write_skeleton(OTHER, tmp_path / OTHER)
    assert list(tmp_path.iterdir()) == []
