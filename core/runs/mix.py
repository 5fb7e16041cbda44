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
from ..data.validation import Prepared
from ..errors import ConfigError, ScenarioPackError
from ..evaluation import context_answers, scoring
from ..evaluation.scoring import number
from ..plugins.scenario import Example
from ..reporting.documents import environment
from ..runtime import hardware, models
from ..runtime.environment import Timer, peak_memory_gib, placement, versions
from ..runtime.processes import Processes
from .mix_plan import MixPlan
from .pipeline import Fit, Progress, generate_answers, stage_outputs, write_split

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
    run_dir: Path,
    progress: Progress,
    quiet: bool = False,
    resume: bool = False,
    timer: Timer | None = None,
) -> dict[str, Any]:
    """Base outputs, one single-task adapter per scenario, the mix adapter, then the report dict
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
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(run_dir / "config.yaml", config_mod.save(config))
        for name, part in prepared.items():
            atomic.write_text(run_dir / name / "config.yaml", config_mod.save(part.config))
            write_split(part, run_dir / name)
    source = models.resolve(config["model"]["name"])
    tokenizer.padding_side = "left"
    fit = Fit(config, source, tokenizer, precision, device, quiet, resume, procs)

    def fresh_model() -> Any:
        return models.load_model(config["model"]["name"]).to(device)

    def trained(train: list[Example], val: list[Example], folder: str) -> Any:
        tuned, info = fit.tuned_model(fresh_model(), train, val, run_dir, folder)
        return tuned.merge_and_unload() if info["method"] == "lora" else tuned

    def stage(name: str, kind: str, load: Callable[[], Any], label: str) -> list:
        part = prepared[name]

        def compute() -> list:
            model = load()
            return procs.share(
                list(range(len(part.test))),
                lambda mine: generate_answers(
                    model, tokenizer, part, precision, progress, f"{name}, {label}", mine
                ),
            )

        return stage_outputs(run_dir / "stages" / f"{name}_{kind}_outputs.json", compute, resume, procs)

    outputs: dict[str, dict[str, list]] = {name: {} for name in prepared}
    start = time.perf_counter()
    base = functools.cache(fresh_model)  # loaded only if some scenario's base outputs are missing
    base_model = context_answers.BaseModel(base, tokenizer, precision, progress, procs)
    asked = [
        context_answers.complete(
            part, run_dir / "stages" / f"{name}_context_answers.json", base_model, resume
        )
        for name, part in prepared.items()
    ]
    if any(asked):
        timer.stage("context_answers", start)
        start = time.perf_counter()
    for name in prepared:
        outputs[name]["base"] = stage(name, "base", base, "base model")
    base.cache_clear()
    timer.stage("base_eval", start)
    for name, part in prepared.items():
        start = time.perf_counter()
        single = functools.partial(trained, part.examples["train"], part.examples["val"], f"adapters/{name}")
        outputs[name]["single"] = stage(name, "single", single, "single-task adapter")
        timer.stage(f"single_{name}", start)
    start = time.perf_counter()
    mixed_val = [ex for part in prepared.values() for ex in part.examples["val"]]
    mix_model = functools.cache(functools.partial(trained, mixed_train, mixed_val, "adapter"))
    for name in prepared:
        outputs[name]["mix"] = stage(name, "mix", mix_model, "mix adapter")
    mix_model.cache_clear()
    timer.stage("mix", start)
    if not procs.main:
        return {}
    adapters = {
        "single": {
            name: {"folder": f"adapters/{name}", "examples": len(part.examples["train"])}
            | _train_info(run_dir, f"adapters/{name}")
            for name, part in prepared.items()
        },
        "mix": {"folder": "adapter", "examples": len(mixed_train)} | _train_info(run_dir, "adapter"),
    }
    report = build_report(plan, prepared, run_dir, outputs, adapters, mixing, hw, precision, timer)
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return report


def _train_info(run_dir: Path, folder: str) -> dict[str, Any]:
    path = run_dir / "stages" / f"{folder.replace('/', '_')}_train.json"
    if not path.exists():
        raise ScenarioPackError(
            f"{path} is missing, so the training of {run_dir / folder} cannot be reported. "
            "Run the same command again without --resume."
        )
    info = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in info.items() if k != "loss_curves"}


def build_report(
    plan: MixPlan,
    prepared: dict[str, Prepared],
    run_dir: Path,
    outputs: dict[str, dict[str, list]],
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
        name: _scenario_report(part, outputs[name], run_dir / name, mixing[name])
        for name, part in prepared.items()
    }
    defaults = "core defaults"
    if plan.not_applied:
        defaults += " (each scenario's own model/train/run defaults are not applied to a mix; see below)"
    report: dict[str, Any] = {
        "schema_version": 1,
        "kind": "mix",
        "run_id": run_dir.name,
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
    atomic.write_json(run_dir / "report.json", report)
    render(run_dir)
    return report


def _scenario_report(
    part: Prepared, outputs: dict[str, list], folder: Path, mixing: dict[str, Any]
) -> dict[str, Any]:
    """One scenario's section: base, single-task and mix on its own test rows and metrics."""
    scenario, config = part.scenario, part.config
    references = [ex.completion for ex in part.examples["test"]]
    records = scoring.prediction_records(part.test, references, outputs)
    scored = {model: scoring.score(scenario, part.context, records, model) for model in MODELS}
    atomic.write_jsonl(folder / "predictions.jsonl", records)
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


def render(run_dir: Path) -> dict[str, Path]:
    """Write report.md from report.json alone (`scenario report RUN_DIR` re-renders it)."""
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    path = run_dir / "report.md"
    atomic.write_text(path, environment().get_template("mix.md.jinja").render(r=report))
    return {"md": path}
