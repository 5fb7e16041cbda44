"""The score-and-compare stage: score every model's answers with the scenario's metrics, compare
them, and write report.json with its renderings; re-score a finished run from its own folder."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import atomic
from ..data import jsonl, quality
from ..data.validation import Prepared
from ..evaluation import context_answers, scoring
from ..plugins.scenario import Scored
from ..runtime import hardware, models
from ..runtime.environment import Timer, peak_memory_gib, versions
from . import documents


def build_report(
    prepared: Prepared,
    run_dir: Path,
    records: list[dict[str, Any]],
    train_info: dict[str, Any],
    hw: hardware.Hardware,
    precision: str,
    timer: Timer,
    baseline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score predictions.jsonl, compare the models and write report.json, .md and .html.

    `baseline` describes the few-shot prompts when the records carry that baseline's outputs.
    """
    start = time.perf_counter()
    scenario, config = prepared.scenario, prepared.config
    resamples, seed = config["eval"]["bootstrap"], config["run"]["seed"]
    base = scoring.score(scenario, prepared.context, records, "base")
    tuned = scoring.score(scenario, prepared.context, records, "tuned")
    metrics = scoring.compare_models(scenario, base, tuned, resamples, seed)
    if baseline and records and "few_shot" in records[0]:
        prompted = scoring.score(scenario, prepared.context, records, "few_shot")
        baseline = {
            **baseline,
            **scoring.against_baseline(scenario, metrics, prompted, tuned, resamples, seed),
        }
    tables, slice_flags = _core_tables(prepared, records, base, tuned)
    report_dict = {
        "schema_version": 1,
        "run_id": run_dir.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "scenario": {
            "name": scenario.name,
            "version": scenario.version,
            "description": scenario.description,
            "templates": {t.path.name: t.sha256 for t in scenario.templates()},
        },
        "model": {"name": config["model"]["name"], "source": models.provenance(config["model"]["name"])},
        "config": config,
        "data": {
            "train_file": str(prepared.train_set.path),
            "train_sha256": prepared.train_set.sha256,
            "test_file": str(prepared.test_set.path) if prepared.test_set else None,
            "test_sha256": prepared.test_set.sha256 if prepared.test_set else None,
            "rows": {
                "train": len(prepared.train),
                "validation": len(prepared.val),
                "test": len(prepared.test),
            },
            "duplicates_dropped": prepared.duplicates_dropped,
            "redacted": prepared.redacted if config["data"]["redact"] else "off",
            "stratified": prepared.stratified,
            **prepared.token_stats,
        },
        "hardware": {**hw.summary(), "description": hw.describe(), "precision": precision},
        "versions": versions(),
        "training": train_info,
        "metrics": metrics,
        "evaluation": scoring.how_evaluated(
            config, precision, scenario.answer_starts(prepared.context), records
        ),
        "baseline": baseline if baseline and "verdict" in baseline else None,
        "primary_metric": scenario.primary_metric.name,
        "example_score": scenario.example_score,
        "details": {**tables, **scenario.details(base, tuned, prepared.context)},
        "slice_flags": slice_flags,
        "context": scenario.context_summary(prepared.context),
        "warnings": prepared.warnings
        + ([train_info["overfitting"]] if train_info.get("overfitting") else []),
        "data_quality": [f.as_dict() for f in prepared.findings],
    }
    atomic.write_jsonl(run_dir / "predictions.jsonl", records)  # now with cleaned outputs and scores
    timer.stage("report", start)
    report_dict["timings"] = dict(timer.timings)
    report_dict["timings"]["total"] = round(sum(timer.timings.values()), 2)
    report_dict["peak_memory_gib"] = peak_memory_gib()
    report_dict["peak_memory_by_stage"] = dict(timer.peaks)
    atomic.write_json(run_dir / "report.json", report_dict)
    documents.render(run_dir)
    return report_dict


def amend_report(
    run_dir: Path, report_dict: dict[str, Any], tables: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """Add what was made around a run (e.g. a sweep's trials) to its report: tables first, then
    the rest; rewrite report.json and re-render."""
    report_dict.update(fields)
    report_dict["details"] = {
        **tables,
        **{k: v for k, v in report_dict["details"].items() if k not in tables},
    }
    atomic.write_json(run_dir / "report.json", report_dict)
    documents.render(run_dir)
    return report_dict


def _core_tables(
    prepared: Prepared, records: list[dict[str, Any]], base: list[Scored], tuned: list[Scored]
) -> tuple[dict[str, Any], list[str]]:
    """Metrics per slice of the test rows and, after --per-<group>, per-group against single adapters."""
    scenario, config = prepared.scenario, prepared.config
    resamples, seed = config["eval"]["bootstrap"], config["run"]["seed"]
    tables, flags = {}, []
    for name in config["eval"]["slice_by"] or scenario.slice_fields:
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


def rescore(run_dir: Path) -> dict[str, Any]:
    """Re-score an existing run's predictions (no generation) and re-render its reports.

    The scenario's context is refitted on the run's own saved training rows, so changed metric code
    applies to exactly the rows the run was evaluated on.
    """
    from ..data import dataset
    from ..plugins import registry

    old = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    scenario = registry.load(old["scenario"]["name"])
    config, info = old["config"], old["data"]
    parts = {name: jsonl.read_saved(run_dir / "data" / f"{name}.jsonl") for name in ("train", "val", "test")}
    train_file = Path(info["train_file"])
    test_file = Path(info["test_file"]) if info["test_file"] else None
    prepared = Prepared(
        scenario=scenario,
        config=config,
        train_set=dataset.Dataset(train_file, [], info["train_sha256"]),
        test_set=dataset.Dataset(test_file, [], info["test_sha256"]) if test_file else None,
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        context=scenario.build_context(parts["train"], config["scenario"], train_file),
        stratified=info["stratified"],
        duplicates_dropped=info["duplicates_dropped"],
        warnings=old.get("warnings", []),
        redacted=info["redacted"] if isinstance(info["redacted"], dict) else {},
        token_stats={k: info[k] for k in ("token_lengths", "truncated") if k in info},
        findings=[quality.Finding(**f) for f in old.get("data_quality", [])],
    )
    context_answers.complete(prepared, run_dir / "stages" / "context_answers.json", None, resume=True)
    records = scoring.read_predictions(run_dir / "predictions.jsonl")
    timer = Timer({k: v for k, v in old.get("timings", {}).items() if k not in ("report", "total")})
    precision = old["training"].get("precision", "fp32")
    new = build_report(
        prepared, run_dir, records, old["training"], hardware.detect(), precision, timer, old.get("baseline")
    )
    if old.get("sweep"):  # a sweep's trials are not re-run; keep what the sweep added
        kept = {k: v for k, v in old["details"].items() if k.startswith("Sweep:")}
        new = amend_report(run_dir, new, kept, sweep=old["sweep"])
    return new
