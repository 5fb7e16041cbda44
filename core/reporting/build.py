"""The score-and-compare stage: score every model's answers with the scenario's metrics, compare
them, and write report.json with its renderings; re-score a finished run from its own folder."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import atomic
from ..data import jsonl
from ..data.validation import Prepared
from ..evaluation import context_answers, scoring
from ..plugins.scenario import Scored
from ..runs.run_folder import RunFolder
from ..runtime import hardware, models
from ..runtime.environment import Timer, peak_memory_gib, versions
from . import documents, results
from .report_parts import DataSummary, HardwareSummary, Json, ModelInfo, RowCounts, TrainingSummary
from .results import FewShotPrompts, RunResults, ScenarioInfo, SweepSummary


def build_report(
    prepared: Prepared,
    run_dir: Path,
    records: list[dict[str, Any]],
    training: TrainingSummary,
    hw: hardware.Hardware,
    precision: str,
    timer: Timer,
    prompts: FewShotPrompts | None = None,
) -> RunResults:
    """Score predictions.jsonl, compare the models and write report.json, .md and .html.

    `prompts` describes the few-shot prompts when the records carry that baseline's outputs.
    """
    start = time.perf_counter()
    scenario, config = prepared.scenario, prepared.config
    resamples, seed = config.eval.bootstrap, config.run.seed
    base = scoring.score(scenario, prepared.context, records, "base")
    tuned = scoring.score(scenario, prepared.context, records, "tuned")
    metrics = scoring.compare_models(scenario, base, tuned, resamples, seed)
    baseline = None
    if prompts and records and "few_shot" in records[0]:
        prompted = scoring.score(scenario, prepared.context, records, "few_shot")
        baseline = scoring.against_baseline(scenario, prompts, prompted, tuned, resamples, seed)
    tables, slice_flags = _core_tables(prepared, records, base, tuned)
    details = {**tables, **scenario.details(base, tuned, prepared.context)}
    evaluation = scoring.how_evaluated(config, precision, scenario.answer_starts(prepared.context), records)
    context = scenario.context_summary(prepared.context)
    folder = RunFolder(run_dir)
    atomic.write_jsonl(folder.predictions, records)  # now with cleaned outputs and scores
    timer.stage("report", start)
    report = RunResults(
        run_id=run_dir.name,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        scenario=ScenarioInfo(
            scenario.name,
            scenario.version,
            scenario.description,
            {t.path.name: t.sha256 for t in scenario.templates()},
        ),
        model=model_info(config),
        config=config,
        data=data_summary(prepared),
        hardware=hardware_summary(hw, precision),
        versions=versions(),
        training=training,
        metrics=metrics,
        evaluation=evaluation,
        baseline=baseline,
        primary_metric=scenario.primary_metric.name,
        example_score=scenario.example_score,
        details=details,
        slice_flags=tuple(slice_flags),
        context=context,
        warnings=(*prepared.warnings, *([training.overfitting] if training.overfitting else [])),
        data_quality=tuple(prepared.findings),
        timings={**timer.timings, "total": round(sum(timer.timings.values()), 2)},
        peak_memory_gib=peak_memory_gib(),
        peak_memory_by_stage=dict(timer.peaks),
        expected_timings=dict(timer.expected),
    )
    results.write(folder.report_json, report)
    documents.render(run_dir)
    return report


def amend_report(run_dir: Path, tables: dict[str, Json], sweep: SweepSummary) -> RunResults:
    """Add what a sweep made around its final run to that run's report: its tables first, then the
    run's own; rewrite report.json and re-render."""
    folder = RunFolder(run_dir)
    report = results.read(folder.report_json)
    assert isinstance(report, RunResults), "a sweep's final run is a run, not a run-mix"
    details = {**tables, **{k: v for k, v in report.details.items() if k not in tables}}
    report = dataclasses.replace(report, details=details, sweep=sweep)
    results.write(folder.report_json, report)
    documents.render(run_dir)
    return report


def model_info(config: Json) -> ModelInfo:
    return ModelInfo(config.model.name, models.provenance(config.model.name))


def data_summary(prepared: Prepared) -> DataSummary:
    """The rows validation handed to the run, as the report records them."""
    train, test = prepared.train_set, prepared.test_set
    return DataSummary(
        train_file=str(train.path),
        train_sha256=train.sha256,
        test_file=str(test.path) if test else None,
        test_sha256=test.sha256 if test else None,
        rows=RowCounts(len(prepared.train), len(prepared.val), len(prepared.test)),
        duplicates_dropped=prepared.duplicates_dropped,
        redacted=prepared.redacted if prepared.config.data.redact else "off",
        stratified=prepared.stratified,
        token_lengths=prepared.token_stats.get("token_lengths"),
        truncated=prepared.token_stats.get("truncated"),
        fields={
            f.name: f.description
            for f in prepared.scenario.fields
            if any(row.get(f.name) not in (None, "") for row in prepared.train)
        },
    )


def hardware_summary(hw: hardware.Hardware, precision: str) -> HardwareSummary:
    return HardwareSummary.from_json({**hw.summary(), "description": hw.describe(), "precision": precision})


def _core_tables(
    prepared: Prepared, records: list[dict[str, Any]], base: list[Scored], tuned: list[Scored]
) -> tuple[dict[str, Any], list[str]]:
    """Metrics per slice of the test rows and, after --per-<group>, per-group against single adapters."""
    scenario, config = prepared.scenario, prepared.config
    resamples, seed = config.eval.bootstrap, config.run.seed
    tables, flags = {}, []
    for name in config.eval.slice_by or scenario.slice_fields:
        if any(r["row"].get(name) not in (None, "") for r in records):
            tables[f"Metrics by {name}"], found = scoring.by_slice(
                scenario, base, tuned, name, resamples, seed
            )
            flags += found
    group_model = f"per_{scenario.group_field}"
    if records and group_model in records[0]:
        per_group = scoring.score(scenario, prepared.context, records, group_model)
        title = f"Per-{scenario.group_field} adapters vs the single adapter"
        tables[title] = scoring.group_comparison(
            scenario, tuned, per_group, scenario.group_field, resamples, seed
        )
    return tables, flags


def rescore(run_dir: Path, old: RunResults) -> RunResults:
    """Re-score the run `old` describes from its predictions (no generation) and re-render its reports.

    The scenario's context is refitted on the run's own saved training rows, so changed metric code
    applies to exactly the rows the run was evaluated on.
    """
    folder = RunFolder(run_dir)
    prepared = _saved_rows(folder, old)
    context_answers.complete(prepared, folder.context_answers(), None, resume=True)
    records = scoring.read_predictions(folder.predictions)
    timer = Timer({k: v for k, v in old.timings.items() if k not in ("report", "total")})
    timer.expected.update(old.expected_timings)
    new = build_report(
        prepared,
        run_dir,
        records,
        old.training,
        hardware.detect(),
        old.training.precision,
        timer,
        old.baseline.prompts if old.baseline else None,
    )
    if old.sweep:  # a sweep's trials are not re-run; keep what the sweep added
        kept = {k: v for k, v in old.details.items() if k.startswith("Sweep:")}
        new = amend_report(run_dir, kept, old.sweep)
    return new


def _saved_rows(folder: RunFolder, old: RunResults) -> Prepared:
    """The validated rows of a finished run as its folder keeps them: the exact split it saved and
    what validation reported, with the scenario's context fitted again on the training rows."""
    from ..data import dataset
    from ..plugins import registry

    scenario = registry.load(old.scenario.name)
    train, val, test = (jsonl.read_saved(folder.split(part)) for part in ("train", "val", "test"))
    data, train_file = old.data, Path(old.data.train_file)
    test_file = Path(data.test_file) if data.test_file else None
    return Prepared(
        scenario=scenario,
        config=old.config,
        train_set=dataset.Dataset(train_file, [], data.train_sha256),
        test_set=dataset.Dataset(test_file, [], data.test_sha256) if test_file else None,
        train=train,
        val=val,
        test=test,
        context=scenario.build_context(train, old.config.scenario, train_file),
        stratified=data.stratified,
        duplicates_dropped=data.duplicates_dropped,
        warnings=list(old.warnings),
        redacted=data.redacted if isinstance(data.redacted, dict) else {},
        token_stats={"token_lengths": data.token_lengths, "truncated": data.truncated}
        if data.token_lengths is not None
        else {},
        findings=list(old.data_quality),
    )
