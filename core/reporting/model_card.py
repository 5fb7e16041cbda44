"""The model card (the Hub's README.md) of a tuned model, rendered from report.json alone.

Its YAML header is huggingface_hub's ModelCardData: base_model, library_name, pipeline_tag, tags and
the tuned model's scores as a model-index, which the Hub shows as evaluation results. Its text is the
evidence behind those numbers: the job, the rows, base / few-shot / tuned with 95% intervals and
verdicts, the training settings, and what the numbers cannot say. Like report.md it is a rendering,
so `scenario report` brings it up to date.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .. import atomic
from ..data import hub
from ..runtime import models
from .mix_results import MixResults
from .report_parts import DataSummary
from .templating import environment

if TYPE_CHECKING:
    from huggingface_hub import EvalResult, ModelCard

    from .results import RunResults

TAG = "scenario-pack"
TASK = "text-generation"


def build(report: RunResults | MixResults, merged: bool = False) -> ModelCard:
    """The card of `report`'s tuned model: its adapter folder, or with `merged` a merged export."""
    from huggingface_hub import ModelCard, ModelCardData

    mix = isinstance(report, MixResults)
    scenarios = list(report.scenarios) if mix else [report.scenario.name]
    method = report.training.method
    base = models.hub_id(report.model.name)
    name = f"{Path(report.model.name).name}-{'-'.join(scenarios)}-{report.run_id}"
    data = ModelCardData(
        base_model=base,  # omitted for a local checkpoint: the Hub accepts model ids only
        library_name="transformers" if merged or method == "full" else "peft",
        pipeline_tag=TASK,
        tags=[TAG, *scenarios, method],
        model_name=name,
        eval_results=_mix_results(report) if mix else _run_results(report),
    )
    template = environment().get_template("mix_card.md.jinja" if mix else "model_card.md.jinja")
    text = template.render(r=report, title=name, base=base, merged=merged, source_name=source_name)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{text}")


def write(report: RunResults | MixResults, path: Path, merged: bool = False) -> Path:
    """Write the card to `path` (a model folder's README.md), atomically."""
    atomic.write_text(path, str(build(report, merged)))
    return path


def _run_results(report: RunResults) -> list[EvalResult]:
    """The tuned model's value of every metric that applied, on the run's held-out rows."""
    return [
        _result(report.data, report.scenario.name, name, m.tuned)
        for name, m in report.metrics.items()
        if m.tuned is not None
    ]


def _mix_results(report: MixResults) -> list[EvalResult]:
    """The mix adapter's value of every metric that applied, on each scenario's held-out rows."""
    return [
        _result(section.data, scenario, name, m.mix)
        for scenario, section in report.scenarios.items()
        for name, m in section.metrics.items()
        if m.mix is not None
    ]


def source_name(source: str) -> str:
    """A data file or local model as a card names it: by its name, since a card is for others to read
    and a local path means nothing on the Hub; a Hub dataset by its `hf:` name."""
    return source if hub.parse(source) else Path(source).name


def _result(data: DataSummary, scenario: str, metric: str, value: float) -> EvalResult:
    """One model-index entry; its dataset is the file (or Hub dataset) the held-out rows came from."""
    from huggingface_hub import EvalResult

    source = data.test_file or data.train_file
    dataset = hub.parse(source)
    if dataset is None:
        name = source_name(source)
        where = {"dataset_type": name, "dataset_name": name, "dataset_split": "test"}
    else:
        where = {
            "dataset_type": dataset.repo,
            "dataset_name": source,
            "dataset_config": dataset.config,
            "dataset_split": dataset.split,
        }
    return EvalResult(
        task_type=TASK,
        task_name=scenario,
        **where,
        metric_type=metric,
        metric_value=value,
        metric_name=metric,
    )
