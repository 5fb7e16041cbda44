"""The real default model, end to end through the CLI (minutes, not seconds)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SUPPORT_DATA


def short_run(
    scenario: str, data: Path, out: Path, limit: int, *extra: str, tokens: int = 32, accum: int = 2
) -> subprocess.CompletedProcess:
    """`scenario run` on the real default model: a few rows, six optimizer steps of 2 x `accum` examples,
    short answers (sized so that the whole suite stays within 20 minutes on a 2-core AVX2-only CPU)."""
    command = [sys.executable, "-c", "from scenario_pack.core.cli import main; main()", "run", scenario]
    command += ["--data", str(data), "--limit", str(limit), "--max-steps", "6", "--grad-accum", str(accum)]
    command += ["--output", str(out), "--set", f"eval.max_new_tokens={tokens}", "--quiet", *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_support_run_on_default_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = short_run("support", SUPPORT_DATA, out, 60, "--baseline", "few-shot:1", tokens=48)
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["name"] == "smollm2-135m-instruct"
    assert (
        "4-bit GGUF" in report["model"]["source"]
        and "keep the 4-bit rounding" in (out / "report.md").read_text()
    )
    assert report["data"]["rows"]["test"] == 12
    assert report["training"]["steps"] == 6 and report["training"]["final_eval_loss"] is not None
    losses = report["training"]["loss_curves"]["train"]
    assert losses[-1][1] < losses[0][1]  # six steps of LoRA already lower the completion loss
    metrics = report["metrics"]
    assert set(metrics) >= {
        "intent_accuracy",
        "intent_macro_f1",
        "reply_rouge_l",
        "reply_bleu",
        "grounding_rate",
        "automation_rate",
        "seconds_per_answer",
    }
    for entry in metrics.values():
        assert entry["direction"] in ("higher", "lower") and entry["verdict"]
    # every model names an intent the run knows, in the format the metrics parse (a closed set)
    assert metrics["format_rate"]["base"] == metrics["format_rate"]["tuned"] == 1.0
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert all(
        p[m]["parsed"]["intent"] != "unknown" for p in predictions for m in ("base", "few_shot", "tuned")
    )
    assert 0 <= report["evaluation"]["closed_set"]["outside_set_unconstrained"]["base"] <= 1
    # the few-shot baseline is on by default: base prompted with its nearest training rows, scored alike
    assert report["baseline"]["mean_shots"] > 0 and metrics["intent_accuracy"]["few_shot"] is not None
    assert "report:" in result.stdout and (out / "report.html").exists()
    assert (out / "adapter" / "adapter_model.safetensors").exists()


@pytest.mark.slow
def test_content_run_on_default_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # the few-shot stage on the default model is covered by the support run (time: AVX2 CI machines)
    result = short_run(
        "content", ROOT / "data_templates" / "content" / "posts.jsonl", out, 60, "--baseline", "none"
    )
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["rows"]["test"] == 12 and report["primary_metric"] == "brand_voice"
    losses = report["training"]["loss_curves"]["train"]
    assert losses[-1][1] < losses[0][1]
    for name in ("brand_voice", "constraint_pass_rate", "keyword_coverage", "readability_gap"):
        assert report["metrics"][name]["base"] is not None and report["metrics"][name]["verdict"]
    assert report["metrics"]["readability_gap"]["direction"] == "lower"
    check = {row[0]: row[2] for row in report["details"]["Brand-voice check"]["rows"]}
    assert check["ROC AUC, brand vs off-brand (held out)"] >= 0.8  # the voice score can tell voices apart
    types = {row[0] for row in report["details"]["Metrics by type"]["rows"]}
    assert types == {"blog", "email", "social"}
    assert "report:" in result.stdout and (out / "report.html").exists()


@pytest.mark.slow
def test_code_run_on_default_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = short_run(
        "code", ROOT / "data_templates" / "code" / "tasks.jsonl", out, 40, "--baseline", "none"
    )
    report = json.loads((out / "report.json").read_text())
    assert report["primary_metric"] == "pass_at_1" and report["data"]["rows"]["test"] == 8
    # training itself is shown to lower the loss by the support and content runs (the same code path);
    # this one is about scoring real answers: sandboxed tests, syntax and lint
    assert report["training"]["steps"] == 6 and report["training"]["final_eval_loss"] is not None
    for name in ("pass_at_1", "syntax_rate", "lint_pass_rate", "lint_violations"):
        assert report["metrics"][name]["base"] is not None and report["metrics"][name]["verdict"]
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert all("syntax_ok" in p["tuned"]["scores"] for p in predictions)
    assert "report:" in result.stdout and (out / "report.html").exists()
