"""Model cards: the Hub's README.md of a tuned model, built from report.json alone (kept run folders,
no training), with metadata that huggingface_hub parses back to the report's own numbers."""

import dataclasses
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from huggingface_hub import ModelCard

from scenario_pack.core.cli import cli
from scenario_pack.core.evaluation.statistics import Verdict
from scenario_pack.core.reporting import model_card, results
from scenario_pack.core.reporting.mix_results import MixResults
from scenario_pack.core.reporting.results import RunResults
from scenario_pack.core.runtime.models import DEFAULT_HUB_ID

FIXTURES = Path(__file__).parent / "fixtures"


def kept_run() -> RunResults:
    """The kept support run with a clear gain on its primary metric, so each number is distinct."""
    report = results.read(FIXTURES / "support_run" / "report.json")
    assert isinstance(report, RunResults)
    gain = dataclasses.replace(
        report.primary,
        base=0.25,
        tuned=0.625,
        delta=0.375,
        ci95=(0.125, 0.5),
        verdict=Verdict.IMPROVED,
        few_rows=False,
    )
    return dataclasses.replace(
        report,
        metrics={**report.metrics, report.primary_metric: gain},
        model=dataclasses.replace(report.model, name="HuggingFaceTB/SmolLM2-360M-Instruct"),
    )


def save_and_load(report: RunResults | MixResults, path: Path, merged: bool = False) -> ModelCard:
    model_card.write(report, path, merged)
    return ModelCard.load(path)


def test_card_metadata_parses_back_to_the_reports_numbers(tmp_path: Path) -> None:
    report = kept_run()
    card = save_and_load(report, tmp_path / "README.md")
    data = card.data
    assert data.base_model == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert data.library_name == "peft" and data.pipeline_tag == "text-generation"
    assert data.tags == ["scenario-pack", "support", "lora"]
    values = {r.metric_type: r.metric_value for r in data.eval_results}
    assert values == {name: m.tuned for name, m in report.metrics.items()}
    assert values["intent_accuracy"] == 0.625
    assert {(r.dataset_name, r.dataset_split) for r in data.eval_results} == {("tickets.jsonl", "test")}


def test_card_text_has_the_evaluation_table_with_intervals_and_verdicts(tmp_path: Path) -> None:
    text = save_and_load(kept_run(), tmp_path / "README.md").text
    # base, few-shot, tuned; tuned - base with its interval and verdict; tuned - few-shot likewise
    row = (
        "| intent_accuracy (primary) | higher | 0.250 | 0.000 | 0.625 "
        "| +0.375 (+0.125 to +0.500) | ▲ improved "
        "| +0.000 (+0.000 to +0.000) |  no clear change (few rows) |"
    )
    assert row in text
    assert "| seconds_per_answer | lower | 2.015 | 2.289 | 0.875 | -1.140 (-1.140 to -1.140) |" in text
    assert "Customer support tickets: classify the intent and reply" in text  # intended use
    assert "rows: 29 train, 3 validation, 8 test" in text and "redacted before training: 5 email" in text
    assert "| warning | label balance |" in text  # data-quality findings
    assert "- Only 8 test rows: intervals are wide and verdicts weak" in text  # limitations
    assert "LoRA rank 16, alpha 32" in text


def test_a_local_base_model_is_named_by_its_folder_and_not_claimed_as_a_hub_id(tmp_path: Path) -> None:
    report = results.read(FIXTURES / "support_run" / "report.json")  # model /tmp/h2gen/g/tiny-llama
    card = save_and_load(report, tmp_path / "README.md")
    assert card.data.base_model is None  # the Hub accepts model ids only
    assert "the local checkpoint `tiny-llama`" in card.text and "/tmp/" not in card.text


def test_default_model_and_merged_export(tmp_path: Path) -> None:
    report = dataclasses.replace(
        kept_run(), model=dataclasses.replace(kept_run().model, name="smollm2-135m-instruct")
    )
    card = save_and_load(report, tmp_path / "README.md", merged=True)
    assert card.data.base_model == DEFAULT_HUB_ID and card.data.library_name == "transformers"
    assert "A merged checkpoint:" in card.text


def test_mix_card_reports_the_mix_adapter_per_scenario(tmp_path: Path) -> None:
    mix = results.read(FIXTURES / "mix_run" / "report.json")
    assert isinstance(mix, MixResults)
    card = save_and_load(mix, tmp_path / "README.md")
    assert card.data.tags == ["scenario-pack", "content", "support", "lora"]
    got = {(r.task_name, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert got == {(s, n): m.mix for s, sec in mix.scenarios.items() for n, m in sec.metrics.items()}
    assert "| seconds_per_answer | lower | 2.416 | 1.187 | 0.180 | -1.007 (-1.007 to -1.007) |" in card.text


@pytest.mark.parametrize("name", ["support_run", "mix_run"])
def test_report_renders_the_card_into_the_adapter_folder(name: str, tmp_path: Path) -> None:
    run = Path(shutil.copytree(FIXTURES / name, tmp_path / name))
    assert CliRunner().invoke(cli, ["report", str(run)]).exit_code == 0
    assert not (run / "adapter").exists()  # a kept folder without weights: no model, no card
    (run / "adapter").mkdir()
    (run / "adapter" / "README.md").write_text("PEFT's placeholder card")
    result = CliRunner().invoke(cli, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert "scenario-pack" in ModelCard.load(run / "adapter" / "README.md").data.tags
