"""CI gates and machine-readable output: `--require improved|beats-baseline` and `--json` on run,
validate and inspect, as a CI job uses them."""

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core import config as config_mod
from scenario_pack.core.cli import cli
from scenario_pack.core.data import hub
from scenario_pack.core.errors import ConfigError
from scenario_pack.core.evaluation.statistics import Verdict
from scenario_pack.core.reporting import gates, results
from tests.conftest import cache_hub_dataset, write_jsonl

FIXTURE = Path(__file__).parent / "fixtures" / "support_run" / "report.json"
QUICK = "--max-steps 2 --batch-size 4 --set eval.max_new_tokens=8 --set eval.bootstrap=50 --quiet".split()


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def report() -> results.RunResults:
    """A kept run's results: intent_accuracy 0.000 everywhere, no clear change (few rows)."""
    return results.read(FIXTURE)


def improved(report: results.RunResults) -> results.RunResults:
    """The same run with its primary metric improved against base and against few-shot."""
    name = report.primary_metric
    metric = dataclasses.replace(report.metrics[name], tuned=0.5, delta=0.5, ci95=(0.2, 0.8))
    metric = dataclasses.replace(metric, verdict=Verdict.IMPROVED, few_rows=False)
    versus = dataclasses.replace(
        report.baseline.metrics[name], delta=0.5, ci95=(0.1, 0.9), verdict=Verdict.IMPROVED
    )
    baseline = dataclasses.replace(report.baseline, metrics={**report.baseline.metrics, name: versus})
    return dataclasses.replace(report, metrics={**report.metrics, name: metric}, baseline=baseline)


def test_gates_pass_only_on_an_improved_primary_metric(report: results.RunResults) -> None:
    failed = gates.decide(report, ["improved", "beats-baseline", "improved"])
    assert [(g.requirement, g.passed) for g in failed] == [("improved", False), ("beats-baseline", False)]
    assert failed[0].detail == (
        "intent_accuracy base 0.000 -> tuned 0.000, delta +0.000 (95% CI +0.000 to +0.000): "
        "no clear change (few rows)"
    )
    assert failed[1].detail.startswith("intent_accuracy few-shot 0.000 -> tuned 0.000, delta +0.000")
    # seconds_per_answer improved, but the gate reads the primary metric only
    assert report.metrics["seconds_per_answer"].verdict is Verdict.IMPROVED

    passed = gates.decide(improved(report), ["improved", "beats-baseline"])
    assert all(g.passed for g in passed)
    assert "base 0.000 -> tuned 0.500, delta +0.500 (95% CI +0.200 to +0.800): improved" in passed[0].detail

    no_baseline = gates.decide(dataclasses.replace(improved(report), baseline=None), ["beats-baseline"])
    assert not no_baseline[0].passed and "no few-shot baseline was measured" in no_baseline[0].detail


def test_beats_baseline_without_a_baseline_is_refused_before_any_work(tmp_path: Path) -> None:
    config = config_mod.resolve({}, None, [("test", {"eval": {"baseline": "none"}})])
    with pytest.raises(ConfigError, match="--require beats-baseline compares the tuned model"):
        gates.check_possible(["improved", "beats-baseline"], config)
    gates.check_possible(["improved"], config)

    out = tmp_path / "run"
    data = tmp_path / "not-read.jsonl"  # refused before the data is read
    result = invoke(
        "run", "support", "--data", data, "--output", out, "--baseline", "none",
        "--require", "beats-baseline", "--json",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "error: --require beats-baseline compares the tuned model" in result.stderr
    assert json.loads(result.stdout)["errors"][0]["message"].startswith("--require beats-baseline")
    assert not out.exists()


def test_validate_json_on_stdout_and_the_human_text_on_stderr(support_dir: Path, tiny_model: Path) -> None:
    result = invoke(
        "validate", "support", "--data", support_dir / "tickets.jsonl", "--model", tiny_model, "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["valid"] is True and summary["errors"] == []
    assert summary["rows"] == {"valid": 120, "train": 86, "validation": 10, "test": 24}
    assert summary["stratified_by"] == "intent" and sum(summary["labels"]["intent"].values()) == 120
    assert summary["tokens"]["max_length"] == 512 and summary["tokens"]["truncated"] == 0
    assert "120 rows valid" in result.stderr and "tokens per example" in result.stderr


def test_validate_json_lists_each_data_problem(tmp_path: Path) -> None:
    rows = [{"ticket": "hi", "intent": "a", "response": "ok"}, {"ticket": "", "intent": 3, "response": "ok"}]
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    result = invoke("validate", "support", "--data", data, "--json")
    assert result.exit_code == 2
    summary = json.loads(result.stdout)
    assert summary["valid"] is False and summary["error_count"] == 2
    assert [(e["file"], e["line"], e["field"]) for e in summary["errors"]] == [
        (str(data), 2, "ticket"),
        (str(data), 2, "intent"),
    ]
    assert "2 data problems found" in result.stderr


def test_inspect_json_counts_findings_by_severity(support_dir: Path, tiny_model: Path) -> None:
    result = invoke(
        "inspect", "support", "--data", support_dir / "tickets.jsonl", "--model", tiny_model, "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == {"training": 96, "test": 24}
    assert sum(summary["counts"].values()) == len(summary["findings"]) > 0
    assert {"severity", "check", "message", "fix"} == set(summary["findings"][0])
    assert "errors, " in result.stderr and "notes" in result.stderr


def test_a_ci_job_runs_on_a_hub_dataset_and_fails_its_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, support_rows: list[dict], tiny_model: Path
) -> None:
    """What a CI job does: train from a Hub dataset, read the JSON summary, fail when tuning did not help."""
    columns = {"ticket": "text", "intent": "label", "response": "answer"}
    hub_rows = [{columns.get(k, k): v for k, v in row.items()} for row in support_rows[:120]]
    cache_hub_dataset(tmp_path, monkeypatch, "acme/tickets", hub_rows)
    maps = [arg for field, column in columns.items() for arg in ("--map", f"{field}={column}")]
    out = tmp_path / "run"
    result = invoke(
        "run", "support", "--data", "hf:acme/tickets", *maps, "--model", tiny_model, "--output", out,
        *QUICK, "--json", "--require", "improved", "--require", "beats-baseline",
    )  # fmt: skip
    # the tiny model learns nothing in two steps: intent accuracy 0.000 before and after
    assert result.exit_code == gates.EXIT_CODE, result.output
    summary = json.loads(result.stdout)
    report = json.loads((out / "report.json").read_text())
    assert summary["run_folder"] == str(out) and summary["report"] == str(out / "report.json")
    assert summary["primary_metric"] == "intent_accuracy" and summary["passed"] is False
    metric = summary["metrics"]["intent_accuracy"]
    saved = report["metrics"]["intent_accuracy"]
    for key in ("base", "few_shot", "tuned", "delta", "ci95", "verdict"):
        assert metric[key] == saved[key], key
    assert metric["vs_few_shot"] == report["baseline"]["metrics"]["intent_accuracy"]
    assert [(g["requirement"], g["passed"]) for g in summary["gates"]] == [
        ("improved", False),
        ("beats-baseline", False),
    ]
    failed = [line for line in result.stderr.splitlines() if line.startswith("gate failed")]
    assert failed == [
        f"gate failed: --require improved: {summary['gates'][0]['detail']}",
        f"gate failed: --require beats-baseline: {summary['gates'][1]['detail']}",
    ]
    assert "intent_accuracy base 0.000 -> tuned 0.000" in failed[0]

    # the Hub dataset is recorded as a file would be: its name and a hash of its rows
    _, digest = hub.read(hub.HubData("acme/tickets", None, "train"), [f"{f}={c}" for f, c in columns.items()])
    assert report["data"]["train_file"] == "hf:acme/tickets@train"
    assert report["data"]["train_sha256"] == digest
    assert report["config"]["data"]["map"] == ["ticket=text", "intent=label", "response=answer"]
