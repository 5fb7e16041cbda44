"""report.json as typed results: files written before the results had a type read back exactly, and
a kept run folder (tests/fixtures, no weights) still re-scores and re-renders with its stored numbers."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core.cli import cli
from scenario_pack.core.config import RENAMED
from scenario_pack.core.evaluation.statistics import Verdict
from scenario_pack.core.reporting import results
from scenario_pack.core.reporting.mix_results import MixResults
from scenario_pack.core.run_config import RunConfig

FIXTURES = Path(__file__).parent / "fixtures"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def kept(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


@pytest.mark.parametrize("name", ["support_run", "mix_run"])
def test_report_json_reads_and_writes_back_byte_for_byte(name: str, tmp_path: Path) -> None:
    stored = FIXTURES / name / "report.json"
    report = results.read(stored)
    assert type(report).from_json(report.to_json()) == report
    results.write(tmp_path / "report.json", report)
    expected = json.loads(stored.read_text(encoding="utf-8"))
    if name == "support_run":  # a run's config is typed: keys added since it was saved take their
        typed = RunConfig.from_dict(expected["config"]).to_dict()  # defaults, renamed ones are dropped
        saved = expected["config"]
        for part, values in saved.items():
            assert {f"{part}.{k}" for k in values if k not in typed[part]} <= set(RENAMED)
            known = {k: v for k, v in values.items() if k in typed[part]}
            assert typed[part] | known == typed[part]
        expected["config"] = typed
    text = json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    assert (tmp_path / "report.json").read_text(encoding="utf-8") == text
    if name == "mix_run":
        assert (tmp_path / "report.json").read_bytes() == stored.read_bytes()


def test_verdicts_are_a_type_and_keep_their_spelling() -> None:
    report = results.read(FIXTURES / "support_run" / "report.json")
    assert isinstance(report, results.RunResults) and report.baseline is not None
    seconds = report.metrics["seconds_per_answer"]  # 8 test rows: every verdict is weak evidence
    assert seconds.verdict is Verdict.IMPROVED and seconds.few_rows
    assert seconds.to_json()["verdict"] == "improved (few rows)"
    assert report.baseline.verdict is Verdict.NO_CLEAR_CHANGE and report.baseline.few_rows
    assert report.baseline.prompts.shots == 3 and report.baseline.metrics["intent_accuracy"].few_shot == 0.0
    assert Verdict.parse("not comparable") == (Verdict.NOT_COMPARABLE, False)
    assert Verdict.NO_CLEAR_CHANGE.label(True) == "no clear change (few rows)"
    mix = results.read(FIXTURES / "mix_run" / "report.json")
    assert isinstance(mix, MixResults) and mix.summary[0].startswith(
        "content: no clear winner on brand_voice"
    )
    assert all(m.few_rows for s in mix.scenarios.values() for m in s.metrics.values())


def test_a_kept_run_rescores_to_its_stored_numbers(tmp_path: Path) -> None:
    run = kept("support_run", tmp_path)
    stored = json.loads((run / "report.json").read_text(encoding="utf-8"))
    result = invoke("eval", str(run))
    assert result.exit_code == 0, result.output
    assert "re-scored 8 rows" in result.output
    assert "intent_accuracy: base 0.0 tuned 0.0 (no clear change (few rows))" in result.output
    again = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert list(again) == list(stored)
    for key in (
        "metrics",
        "baseline",
        "details",
        "evaluation",
        "training",
        "warnings",
        "data_quality",
    ):
        assert again[key] == stored[key], key
    fields = again["data"].pop("fields")  # the schema fields its rows fill: newer than this folder
    assert again["data"] == stored["data"] and {"ticket", "intent", "response"} <= set(fields)
    assert (run / "report.html").exists()


def test_kept_folders_rerender_the_reports_they_were_written_with(tmp_path: Path) -> None:
    for name in ("support_run", "mix_run"):
        folder = kept(name, tmp_path)
        (folder / "report.md").unlink()
        result = invoke("report", str(folder))
        assert result.exit_code == 0, result.output
        assert (folder / "report.md").read_text() == (FIXTURES / name / "report.md").read_text(), name
    refused = invoke("eval", str(tmp_path / "mix_run"))
    assert refused.exit_code == 2 and "is a run-mix folder" in refused.output


def test_a_report_of_another_schema_is_refused_clearly(tmp_path: Path) -> None:
    run = kept("support_run", tmp_path)
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    (run / "report.json").write_text(json.dumps({**report, "schema_version": 2}), encoding="utf-8")
    result = invoke("report", str(run))
    assert result.exit_code == 2 and "has schema_version 2, and this scenario-pack reads 1" in result.output
