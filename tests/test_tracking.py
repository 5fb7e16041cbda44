"""--report-to: the losses and the scenario's own metrics reach the tracker, read back from its files."""

import json
import sys
import types
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from scenario_pack.core.reporting import results, tracking
from tests.test_cli import run_tiny

FIXTURES = Path(__file__).parent / "fixtures"


def test_tensorboard_gets_the_losses_and_the_scenario_metrics(
    tiny_model: Path, support_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = run_tiny(tiny_model, support_dir / "tickets.jsonl", out, "--report-to", "tensorboard")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["config"]["train"]["report_to"] == "tensorboard"

    events = EventAccumulator(str(out / "tensorboard" / "adapter"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert "train/loss" in scalars  # the trainer's losses, step by step
    tuned = events.Scalars("scenario/intent_accuracy/tuned")
    assert tuned[-1].step == report["training"]["steps"]
    assert tuned[-1].value == pytest.approx(report["metrics"]["intent_accuracy"]["tuned"])
    low = events.Scalars("scenario/intent_accuracy/tuned_minus_base_ci95_low")[-1].value
    assert low == pytest.approx(report["metrics"]["intent_accuracy"]["ci95"][0])
    few_shot = events.Scalars("scenario/intent_accuracy/few_shot")[-1].value
    assert few_shot == pytest.approx(report["metrics"]["intent_accuracy"]["few_shot"])
    assert "scenario/verdicts/text_summary" in events.Tags()["tensors"]  # the verdict table, as text


def test_the_default_reports_nowhere(tiny_model: Path, support_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_tiny(tiny_model, support_dir / "tickets.jsonl", out).exit_code == 0
    assert not (out / "tensorboard").exists()


def test_a_tracker_that_is_not_installed_stops_the_run_before_any_work(
    tiny_model: Path, support_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None)
    out = tmp_path / "run"
    result = run_tiny(tiny_model, support_dir / "tickets.jsonl", out, "--report-to", "wandb")
    assert result.exit_code == 2
    assert "--report-to wandb: the wandb package is not installed" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_wandb_receives_every_number_of_the_metrics_table(monkeypatch: pytest.MonkeyPatch) -> None:
    report = results.read(FIXTURES / "support_run" / "report.json")
    logged: dict = {}

    class Run:
        summary: dict = {}

        def log(self, values: dict, step: int) -> None:
            logged.update(values=values, step=step)

        def finish(self) -> None:
            logged["finished"] = True

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(run=Run(), init=None))
    tracking.log_results("wandb", Path("unused"), report)
    metric = report.metrics["intent_accuracy"]
    assert logged["values"]["scenario/intent_accuracy/base"] == metric.base
    assert logged["values"]["scenario/intent_accuracy/tuned_minus_base_ci95_high"] == metric.ci95[1]
    assert "scenario/intent_accuracy/few_shot" in logged["values"] and logged["finished"]
    assert "| intent_accuracy |" in Run.summary["scenario/verdicts"]
