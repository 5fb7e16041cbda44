"""`scenario run-mix`: one adapter trained on a weighted mix of several scenarios, measured against
each scenario's single-task adapter (same rows, same training settings) and the base model.

Each scenario is evaluated on its own held-out rows with its own metrics, and the mix-vs-single
delta gets a paired bootstrap interval, so the report names a winner only where the evidence does.
Every stage is a file in the run folder and is reused on --resume, as in `scenario run`.
"""

from __future__ import annotations

import functools
import json
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic
from .. import config as config_mod
from ..data.similarity import Progress
from ..data.validation import Prepared
from ..errors import ConfigError
from ..evaluation import context_answers, scoring
from ..evaluation.answers import Answer, AnswerStage, prediction_records, write_split
from ..evaluation.scoring import number
from ..plugins.scenario import Example
from ..reporting.documents import environment
from ..runtime import hardware, models
from ..runtime.environment import Timer, peak_memory_gib, placement, versions
from ..runtime.processes import Processes
from ..training.fit import Fit, saved_summary
from .mix_plan import MixPlan
from .run_folder import TUNED, RunFolder

MODELS = ("base", "single", "mix")
WINNERS = {
    "improved": "the mix adapter won",
    "regressed": "the single-task adapter won",
    "no clear change": "no clear winner",
    "not comparable": "not comparable",
}


def weighted_examples(
    plan: MixPlan, prepared: dict[str, Prepared], seed: int
) -> tuple[list[Example], dict[str, dict[str, Any]]]:
    """Each scenario's training examples, repeated or subsampled (seeded) to weight x its row count."""
    rng = np.random.default_rng(seed)
    mixed: list[Example] = []
    counts = {}
    for member in plan.members:
        examples = prepared[member.name].examples["train"]
        target = round(member.weight * len(examples))
        if target == 0:
            raise ConfigError(
                f"--weight {member.name}={member.weight:g} leaves none of its {len(examples)} training rows; "
                f"use a weight of at least {1 / len(examples):.3g}."
            )
        whole, rest = divmod(target, len(examples))
        extra = sorted(rng.choice(len(examples), rest, replace=False).tolist())
        mixed += examples * whole + [examples[i] for i in extra]
        counts[member.name] = {"rows": len(examples), "weight": member.weight, "examples": target}
    return mixed, counts


def run_mix(
    plan: MixPlan,
    prepared: dict[str, Prepared],
    tokenizer: Any,
    folder: RunFolder,
    progress: Progress,
    quiet: bool = False,
    resume: bool = False,
    timer: Timer | None = None,
) -> dict[str, Any]:
    """Base answers, one single-task adapter per scenario, the mix adapter, then the report dict
    (also written as report.json). `prepared` holds each member's validated rows, keyed by name."""
    import torch

    timer = timer or Timer()
    config = plan.training_config
    seed = config["run"]["seed"]
    mixed_train, mixing = weighted_examples(plan, prepared, seed)
    torch.manual_seed(seed)
    procs = Processes.current()
    hw, device, precision = placement(config, procs)
    if procs.main:
        folder.root.mkdir(parents=True, exist_ok=True)
        atomic.write_text(folder.config, config_mod.save(config))
        for name, part in prepared.items():
            atomic.write_text(folder.member(name).config, config_mod.save(part.config))
            write_split(part, folder.member(name))
    fit = Fit(config, tokenizer, precision, device, quiet, resume, procs)
    stage = AnswerStage(tokenizer, precision, progress, procs, resume)

    def fresh_model() -> Any:
        return models.load_model(config["model"]["name"]).to(device)

    def trained(train: list[Example], val: list[Example], name: str) -> Any:
        return fit.tuned_model(fresh_model(), train, val, folder, name)[0]

    def answer(name: str, kind: str, load: Callable[[], Any], label: str) -> list[Answer]:
        return stage.answers(folder.answers(f"{name}_{kind}"), prepared[name], load, f"{name}, {label}")

    answers: dict[str, dict[str, list[Answer]]] = {name: {} for name in prepared}
    start = time.perf_counter()
    base = functools.cache(fresh_model)  # loaded only if some scenario's base answers are missing
    base_model = context_answers.BaseModel(base, tokenizer, precision, progress, procs)
    asked = [
        context_answers.complete(part, folder.context_answers(f"{name}_"), base_model, resume)
        for name, part in prepared.items()
    ]
    if any(asked):
        timer.stage("context_answers", start)
        start = time.perf_counter()
    for name in prepared:
        answers[name]["base"] = answer(name, "base", base, "base model")
    base.cache_clear()
    timer.stage("base_eval", start)
    for name, part in prepared.items():
        start = time.perf_counter()
        single = functools.partial(
            trained, part.examples["train"], part.examples["val"], folder.member_tuned(name)
        )
        answers[name]["single"] = answer(name, "single", single, "single-task adapter")
        timer.stage(f"single_{name}", start)
    start = time.perf_counter()
    mixed_val = [ex for part in prepared.values() for ex in part.examples["val"]]
    mix_model = functools.cache(functools.partial(trained, mixed_train, mixed_val, TUNED))
    for name in prepared:
        answers[name]["mix"] = answer(name, "mix", mix_model, "mix adapter")
    mix_model.cache_clear()
    timer.stage("mix", start)
    if not procs.main:
        return {}
    adapters = {
        "single": {
            name: {"folder": folder.member_tuned(name), "examples": len(part.examples["train"])}
            | saved_summary(folder, folder.member_tuned(name))
            for name, part in prepared.items()
        },
        "mix": {"folder": TUNED, "examples": len(mixed_train)} | saved_summary(folder, TUNED),
    }
    report = build_report(plan, prepared, folder, answers, adapters, mixing, hw, precision, timer)
    shutil.rmtree(folder.checkpoints(), ignore_errors=True)
    return report


def build_report(
    plan: MixPlan,
    prepared: dict[str, Prepared],
    folder: RunFolder,
    answers: dict[str, dict[str, list[Answer]]],
    adapters: dict[str, dict[str, Any]],
    mixing: dict[str, dict[str, Any]],
    hw: hardware.Hardware,
    precision: str,
    timer: Timer,
) -> dict[str, Any]:
    """Score every scenario's predictions, compare mix with single-task, write report.json and .md."""
    start = time.perf_counter()
    config = plan.training_config
    scenarios = {
        name: _scenario_report(part, answers[name], folder.member(name), mixing[name])
        for name, part in prepared.items()
    }
    defaults = "core defaults"
    if plan.not_applied:
        defaults += " (each scenario's own model/train/run defaults are not applied to a mix; see below)"
    report: dict[str, Any] = {
        "schema_version": 1,
        "kind": "mix",
        "run_id": folder.root.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "summary": [section["summary"] for section in scenarios.values()],
        "scenarios": scenarios,
        "model": {"name": config["model"]["name"], "source": models.provenance(config["model"]["name"])},
        "config": config,
        "training": {
            "method": config["train"]["method"],
            "precision": precision,
            "defaults": defaults,
            "overrides": plan.overrides,
            "scenario_defaults_not_applied": plan.not_applied,
            "mix_file": str(plan.mix_file) if plan.mix_file else None,
            "adapters": adapters,
        },
        "hardware": {**hw.summary(), "description": hw.describe(), "precision": precision},
        "versions": versions(),
    }
    timer.stage("report", start)
    report["timings"] = {**timer.timings, "total": round(sum(timer.timings.values()), 2)}
    report["peak_memory_gib"] = peak_memory_gib()
    atomic.write_json(folder.report_json, report)
    render(folder)
    return report


def _scenario_report(
    part: Prepared, answers: dict[str, list[Answer]], folder: RunFolder, mixing: dict[str, Any]
) -> dict[str, Any]:
    """One scenario's section: base, single-task and mix on its own test rows and metrics."""
    scenario, config = part.scenario, part.config
    records = prediction_records(part, answers)
    scored = {model: scoring.score(scenario, part.context, records, model) for model in MODELS}
    atomic.write_jsonl(folder.predictions, records)
    resamples, seed = config["eval"]["bootstrap"], config["run"]["seed"]

    def compare(first: str, second: str) -> dict[str, dict[str, Any]]:
        return scoring.compare_models(scenario, scored[first], scored[second], resamples, seed)

    versus, single_gain, mix_gain = (
        compare("single", "mix"),
        compare("base", "single"),
        compare("base", "mix"),
    )
    metrics = {
        name: {
            **{k: e[k] for k in ("direction", "description", "primary", "range")},
            "base": single_gain[name]["base"],
            "single": e["base"],
            "mix": e["tuned"],
            "delta": e["delta"],
            "ci95": e["ci95"],
            "verdict": e["verdict"],
            "single_vs_base": single_gain[name]["verdict"],
            "mix_vs_base": mix_gain[name]["verdict"],
        }
        for name, e in versus.items()
    }
    primary = scenario.primary_metric.name
    return {
        "version": scenario.version,
        "templates": {t.path.name: t.sha256 for t in scenario.templates()},
        "data": {
            "train_file": str(part.train_set.path),
            "train_sha256": part.train_set.sha256,
            "test_file": str(part.test_set.path) if part.test_set else None,
            "rows": {"train": len(part.train), "validation": len(part.val), "test": len(part.test)},
            "stratified": part.stratified,
            "duplicates_dropped": part.duplicates_dropped,
            "redacted": part.redacted if config["data"]["redact"] else "off",
            **part.token_stats,
        },
        "mixing": mixing,
        "primary_metric": primary,
        "summary": summary_line(scenario.name, primary, metrics[primary]),
        "metrics": metrics,
        "context": scenario.context_summary(part.context),
        "warnings": part.warnings,
    }


def summary_line(name: str, metric: str, e: dict[str, Any]) -> str:
    """Which adapter won on one metric, in words, with the numbers and the interval behind it."""

    def plain(verdict: str) -> str:
        return verdict.removesuffix(" (few rows)")

    few = " (few test rows: weak evidence)" if e["verdict"].endswith("(few rows)") else ""
    low, high = e["ci95"]
    return (
        f"{name}: {WINNERS[plain(e['verdict'])]} on {metric} ({e['direction']} is better){few}: "
        f"base {number(e['base'])}, single-task {number(e['single'])}, mix {number(e['mix'])}; "
        f"mix - single {number(e['delta'], '+.3f')} "
        f"(95% CI {number(low, '+.3f')} to {number(high, '+.3f')}); "
        f"against base, single-task {plain(e['single_vs_base'])}, mix {plain(e['mix_vs_base'])}."
    )


def render(folder: RunFolder) -> dict[str, Path]:
    """Write report.md from report.json alone (`scenario report RUN_DIR` re-renders it)."""
    report = json.loads(folder.report_json.read_text(encoding="utf-8"))
    atomic.write_text(folder.report_md, environment().get_template("mix.md.jinja").render(r=report))
    return {"md": folder.report_md}
