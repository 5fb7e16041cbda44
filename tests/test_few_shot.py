"""The few-shot prompting baseline: parsing, nearest-row selection, prompt shape, context fitting, report."""

import json
from pathlib import Path

import pytest

from scenario_pack.core.errors import ConfigError
from scenario_pack.core.evaluation.few_shot import Baseline, build, nearest, with_shots
from scenario_pack.core.plugins.scenario import Example
from tests.test_cli import run_tiny


def example(user: str, answer: str) -> Example:
    return Example([{"role": "system", "content": "be brief"}, {"role": "user", "content": user}], answer)


def test_baseline_spec_is_parsed_or_refused_clearly() -> None:
    assert Baseline.parse("none").shots == 0
    assert Baseline.parse("few-shot").shots == 3
    assert Baseline.parse("few-shot:5").shots == 5
    for bad in ("few-shot:0", "fewshot", "few-shot:x", "3"):
        with pytest.raises(ConfigError, match="few-shot:K"):
            Baseline.parse(bad)


def test_nearest_training_rows_by_character_ngrams() -> None:
    train = ["refund for my damaged order", "reset my password please", "my parcel is late", "refund policy"]
    found = nearest(train, ["I need a refund for an order that arrived damaged", "password reset"], 2)
    assert found[0] == [0, 3]
    assert found[1][0] == 1


def test_shots_become_earlier_turns_and_shrink_to_fit() -> None:
    shots = [example("q1", "a1"), example("q2", "a2")]
    prompt = with_shots(example("q", "a"), shots).prompt
    assert [m["role"] for m in prompt] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in prompt[1:]] == ["q1", "a1", "q2", "a2", "q"]

    train = [example(q, q.upper()) for q in ("cats purr", "dogs bark", "cows moo")]
    test = [example("do cats purr", "yes"), example("do cows moo", "yes")]
    # row 1 may hold only one shot: its farther shots are dropped, never the row's own prompt
    prompts, counts = build(
        train,
        [e.prompt[1]["content"] for e in train],
        test,
        ["cats purr", "cows moo"],
        2,
        lambda i, ex: i == 0 or len(ex.prompt) <= 4,
    )
    assert counts == [2, 1]
    assert prompts[1].prompt[1]["content"] == "cows moo" and prompts[1].prompt[-1]["content"] == "do cows moo"
    assert prompts[0].completion == "yes"


def test_report_has_the_three_way_comparison(tiny_model: Path, support_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    data = support_dir / "tickets.jsonl"
    result = run_tiny(tiny_model, data, out, "--limit", "60", "--baseline", "few-shot:2")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    baseline = report["baseline"]
    assert baseline["shots"] == 2 and baseline["mean_shots"] <= 2 and "TF-IDF" in baseline["selection"]
    assert "intent_accuracy" in baseline["sentence"] and "under 20 test rows" in baseline["sentence"]
    assert set(baseline["metrics"]) == set(report["metrics"])
    assert all("few_shot" in entry for entry in report["metrics"].values())
    assert "few_shot_eval" in report["timings"]
    record = json.loads((out / "predictions.jsonl").read_text().splitlines()[0])
    assert {"raw", "scores"} <= set(record["few_shot"])
    assert "Fine-tuning vs few-shot prompting" in (out / "report.md").read_text()
    assert "few-shot" in result.output or "few_shot" in result.output


def test_resume_refuses_other_held_out_rows(tiny_model: Path, support_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    data = support_dir / "tickets.jsonl"
    assert run_tiny(tiny_model, data, out, "--limit", "40", "--baseline", "none").exit_code == 0
    changed = run_tiny(tiny_model, data, out, "--limit", "50", "--baseline", "none", "--resume")
    assert changed.exit_code == 2 and "held-out rows differ" in changed.output


def test_baseline_none_and_a_typo(tiny_model: Path, support_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_tiny(tiny_model, support_dir / "tickets.jsonl", out, "--limit", "40", "--baseline", "none")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["baseline"] is None and "few_shot" not in report["metrics"]["intent_accuracy"]
    assert not (out / "stages" / "few_shot_outputs.json").exists()
    typo = run_tiny(tiny_model, support_dir / "tickets.jsonl", tmp_path / "x", "--baseline", "fewshot")
    assert typo.exit_code == 2 and "few-shot:K" in typo.output and not (tmp_path / "x").exists()
