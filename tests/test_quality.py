"""Data-quality findings on planted defects, clean data without findings, the leakage stop, the
overfitting warning and early stopping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core import config as config_mod
from scenario_pack.core.cli import cli
from scenario_pack.core.data import quality
from scenario_pack.core.data.validation import measure_tokens, prepare
from scenario_pack.core.errors import DataError
from scenario_pack.core.plugins import registry
from scenario_pack.core.training.losses import overfitting
from tests.conftest import write_jsonl

SUPPORT = registry.load("support")
TOPICS = ["parcel", "refund", "password", "warranty", "address", "invoice", "coupon", "battery", "blender"]
VERBS = ["lost", "late", "broken", "missing", "wrong", "charged twice for", "cannot find", "need help with"]


def clean_rows(n: int = 72) -> list[dict]:
    """Distinct tickets and replies over two balanced intents: nothing for any check to find."""
    rows = []
    for i in range(n):
        topic, verb = TOPICS[i % len(TOPICS)], VERBS[(i // len(TOPICS)) % len(VERBS)]
        rows.append(
            {
                "ticket": f"Order {1000 + 37 * i}: my {topic} is {verb}, customer since {1990 + i}",
                "intent": "order_status" if i % 2 else "return_request",
                "response": f"Sorry about the {topic}. #{5000 + 11 * i} open; news by day {i % 28 + 1}.",
            }
        )
    return rows


def findings(tmp_path: Path, rows: list[dict], test: list[dict] | None = None, **data: object) -> dict:
    config = config_mod.resolve(SUPPORT.defaults(), None, [("t", {"data": {"allow_leakage": True, **data}})])
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    test_path = write_jsonl(tmp_path / "test.jsonl", test) if test else None
    prepared = prepare(SUPPORT, config, path, test_path)
    return {f.check: f for f in prepared.findings}


def test_clean_data_yields_no_warning(tmp_path: Path) -> None:
    found = findings(tmp_path, clean_rows())
    assert {f.severity for f in found.values()} == {"info"}, [f.message for f in found.values()]


def test_planted_defects_are_found(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[5] = {**rows[3], "ticket": rows[3]["ticket"] + "!"}  # near copy of row 3
    rows[7] = dict(rows[9])  # exact copy
    for i in range(10, 20):
        rows[i]["response"] = "Thanks, we have received your message."  # boilerplate
    rows[21]["response"] = "Ok."
    rows += [
        {**clean_rows(1)[0], "ticket": f"rare ticket about thing {i}", "intent": "payment_issue"}
        for i in range(2)
    ]
    test = [
        {**r, "ticket": f"A question nobody asked before, number {i}"} for i, r in enumerate(clean_rows(4))
    ]
    found = findings(tmp_path, rows, test)  # a separate test file: every planted row is a training row
    assert found["leakage"].severity == "info"
    assert found["exact duplicates"].severity == "warning" and "1 rows" in found["exact duplicates"].message
    assert found["near duplicates"].severity == "warning"
    assert (
        found["boilerplate targets"].severity == "warning"
        and "repeated in 10" in found["boilerplate targets"].message
    )
    assert "fewer than 3 words" in found["short targets"].message
    assert (
        found["label balance"].severity == "warning"
        and "'payment_issue' has" in found["label balance"].message
    )


def test_near_copies_in_the_test_file_stop_the_run_unless_allowed(tmp_path: Path) -> None:
    rows = clean_rows()
    test = [{**r, "ticket": r["ticket"].replace("Order", "order #")} for r in rows[:6]]
    found = findings(tmp_path, rows, test)
    assert found["leakage"].severity == "error" and "6 of 6 test rows" in found["leakage"].message
    config = config_mod.resolve(SUPPORT.defaults())
    with pytest.raises(DataError, match="near copies of a training row's ticket"):
        prepare(SUPPORT, config, tmp_path / "rows.jsonl", tmp_path / "test.jsonl")


def test_truncation_is_a_token_finding(tmp_path: Path, tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    config = config_mod.resolve(SUPPORT.defaults(), None, [("t", {"data": {"max_length": 90}})])
    prepared = prepare(SUPPORT, config, write_jsonl(tmp_path / "rows.jsonl", clean_rows()), None)
    measure_tokens(prepared, AutoTokenizer.from_pretrained(tiny_model))
    token = next(f for f in prepared.findings if f.check == "token lengths")
    assert token.severity == "warning" and "exceed max_length 90" in token.message


def test_inspect_prints_findings_and_fails_on_errors(tmp_path: Path, tiny_model: Path) -> None:
    rows = clean_rows()
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    test = write_jsonl(tmp_path / "test.jsonl", [{**r, "ticket": r["ticket"] + "."} for r in rows[:6]])
    args = ["inspect", "support", "--data", str(data), "--model", str(tiny_model)]
    clean = CliRunner().invoke(cli, args)
    assert clean.exit_code == 0 and "0 errors, 0 warnings" in clean.output, clean.output
    leaky = CliRunner().invoke(cli, [*args, "--test", str(test)])
    assert leaky.exit_code == 1 and "[error] leakage: 6 of 6 test rows" in leaky.output


def test_overfitting_warning_needs_rising_validation_and_falling_training_loss() -> None:
    def history(val: list[float], train: list[float]) -> list[dict]:
        logs = [{"step": i + 1, "loss": loss} for i, loss in enumerate(train)]
        return logs + [{"step": 5 * (i + 1), "eval_loss": loss} for i, loss in enumerate(val)]

    falling = [3.0 - 0.1 * i for i in range(20)]
    warning = overfitting(history([2.0, 1.8, 1.9, 2.2], falling))
    assert warning and "rose from 1.800 (step 10) to 2.200 (step 20)" in warning
    assert overfitting(history([2.0, 1.8, 1.7, 1.6], falling)) is None
    assert overfitting(history([2.0, 1.8, 1.9, 2.2], [2.0] * 20)) is None  # training not falling


def test_early_stopping_restores_the_best_checkpoint(
    tiny_model: Path, support_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = ["run", "support", "--data", str(support_dir / "tickets.jsonl"), "--model", str(tiny_model)]
    args += ["--output", str(out), "--max-steps", "12", "--batch-size", "4", "--quiet"]
    args += ["--method", "full", "--lr", "1.0", "--set", "train.warmup_ratio=0.0"]  # diverges at once
    args += ["--set", "train.eval_steps=1", "--set", "train.early_stopping_patience=2"]
    args += ["--set", "eval.max_new_tokens=4", "--set", "eval.bootstrap=20"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    training = json.loads((out / "report.json").read_text())["training"]
    assert training["stopped_early"] and training["steps"] < 12
    assert training["best_eval_loss"] < training["final_eval_loss"]
    assert training["best_step"] == min(training["loss_curves"]["validation"], key=lambda p: p[1])[0]


def test_thresholds_are_the_documented_ones() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert f"{quality.NEAR_SIMILARITY}" in readme and f"{quality.LEAKAGE_LIMIT:.0%}" in readme


def test_slice_flags_name_regressions_and_widening_gaps() -> None:
    from scenario_pack.core.evaluation import scoring
    from scenario_pack.core.plugins.scenario import Metric, Scenario, Scored, mean_of

    scenario = Scenario(
        "toy",
        "",
        "1",
        (),
        "x",
        Path("."),
        metrics=(Metric("hit", "higher", "", mean_of("hit"), primary=True),),
    )

    def scored(channel: str, hits: list[int]) -> list[Scored]:
        return [Scored({"channel": channel}, "", {}, {"hit": float(h)}, 0.0) for h in hits]

    # email: 0.5 -> 1.0 (improved); chat: 0.5 -> 0.0 (regressed); the gap grows from 0 to 1
    base = scored("email", [1, 0] * 15) + scored("chat", [1, 0] * 15)
    tuned = scored("email", [1, 1] * 15) + scored("chat", [0, 0] * 15)
    table, flags = scoring.by_slice(scenario, base, tuned, "channel", 200, 0)
    verdicts = {row[0]: row[-1] for row in table["rows"]}
    assert verdicts == {"chat": "regressed", "email": "improved"}
    assert any(f.startswith("channel=chat: hit regressed") for f in flags)
    assert any("gap in hit between slices widened after tuning, from 0.000 to 1.000" in f for f in flags)
    # the same per-slice change for both: no flag
    _, calm = scoring.by_slice(
        scenario, base, scored("email", [1, 1] * 15) + scored("chat", [1, 1] * 15), "channel", 200, 0
    )
    assert calm == []
