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
from ..evaluation.statistics import Verdict
from ..plugins.scenario import Example
from ..reporting import documents, results
from ..reporting.build import data_summary, hardware_summary, model_info
from ..reporting.mix_results import MixAdapter, MixMetric, MixResults, MixScenario, MixShare, MixTraining
from ..reporting.results import MetricResult
from ..runtime import hardware, models
from ..runtime.environment import Timer, peak_memory_gib, placement, versions
from ..runtime.processes import Processes
from .mix_plan import MixPlan
from .pipeline import Fit, Progress, generate_answers, stage_outputs, write_split
from .run_folder import RunFolder

MODELS = ("base", "single", "mix")
WINNERS = {
    Verdict.IMPROVED: "the mix adapter won",
    Verdict.REGRESSED: "the single-task adapter won",
    Verdict.NO_CLEAR_CHANGE: "no clear winner",
    Verdict.NOT_COMPARABLE: "not comparable",
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
) -> MixResults | None:
    """Base outputs, one single-task adapter per scenario, the mix adapter, then the results (also
    written as report.json; None on the non-main processes). `prepared` holds each member's
    validated rows, keyed by name."""
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
        return None
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
) -> MixResults:
    """Score every scenario's predictions, compare mix with single-task, write report.json and .md."""
    start = time.perf_counter()
    config = plan.training_config
    scenarios = {
        name: _scenario_report(part, outputs[name], run_dir / name, MixShare(**mixing[name]))
        for name, part in prepared.items()
    }
    defaults = "core defaults"
    if plan.not_applied:
        defaults += " (each scenario's own model/train/run defaults are not applied to a mix; see below)"
    training = MixTraining(
        method=config["train"]["method"],
        precision=precision,
        defaults=defaults,
        overrides=plan.overrides,
        scenario_defaults_not_applied=plan.not_applied,
        mix_file=str(plan.mix_file) if plan.mix_file else None,
        single_adapters={name: MixAdapter.from_json(a) for name, a in adapters["single"].items()},
        mix_adapter=MixAdapter.from_json(adapters["mix"]),
    )
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    timer.stage("report", start)
    report = MixResults(
        run_id=run_dir.name,
        created=created,
        scenarios=scenarios,
        model=model_info(config),
        config=config,
        training=training,
        hardware=hardware_summary(hw, precision),
        versions=versions(),
        timings={**timer.timings, "total": round(sum(timer.timings.values()), 2)},
        peak_memory_gib=peak_memory_gib(),
    )
    results.write(RunFolder(run_dir).report_json, report)
    documents.render(run_dir)
    return report


def _scenario_report(part: Prepared, outputs: dict[str, list], folder: Path, mixing: MixShare) -> MixScenario:
    """One scenario's section: base, single-task and mix on its own test rows and metrics."""
    scenario, config = part.scenario, part.config
    references = [ex.completion for ex in part.examples["test"]]
    records = scoring.prediction_records(part.test, references, outputs)
    scored = {model: scoring.score(scenario, part.context, records, model) for model in MODELS}
    atomic.write_jsonl(RunFolder(folder).predictions, records)
    resamples, seed = config["eval"]["bootstrap"], config["run"]["seed"]

    def compare(first: str, second: str) -> dict[str, MetricResult]:
        return scoring.compare_models(scenario, scored[first], scored[second], resamples, seed)

    versus, single_gain, mix_gain = (
        compare("single", "mix"),
        compare("base", "single"),
        compare("base", "mix"),
    )
    metrics = {
        name: MixMetric(
            direction=e.direction,
            description=e.description,
            primary=e.primary,
            range=e.range,
            base=single_gain[name].base,
            single=e.base,
            mix=e.tuned,
            delta=e.delta,
            ci95=e.ci95,
            verdict=e.verdict,
            single_vs_base=single_gain[name].verdict,
            mix_vs_base=mix_gain[name].verdict,
            few_rows=e.few_rows,
        )
        for name, e in versus.items()
    }
    primary = scenario.primary_metric.name
    return MixScenario(
        version=scenario.version,
        templates={t.path.name: t.sha256 for t in scenario.templates()},
        data=data_summary(part),
        mixing=mixing,
        primary_metric=primary,
        summary=summary_line(scenario.name, primary, metrics[primary]),
        metrics=metrics,
        context=scenario.context_summary(part.context),
        warnings=tuple(part.warnings),
    )


def summary_line(name: str, metric: str, e: MixMetric) -> str:
    """Which adapter won on one metric, in words, with the numbers and the interval behind it."""
    few = " (few test rows: weak evidence)" if e.few_rows else ""
    low, high = e.ci95
    return (
        f"{name}: {WINNERS[e.verdict]} on {metric} ({e.direction} is better){few}: "
        f"base {number(e.base)}, single-task {number(e.single)}, mix {number(e.mix)}; "
        f"mix - single {number(e.delta, '+.3f')} "
        f"(95% CI {number(low, '+.3f')} to {number(high, '+.3f')}); "
        f"against base, single-task {e.single_vs_base.value}, mix {e.mix_vs_base.value}."
    )
