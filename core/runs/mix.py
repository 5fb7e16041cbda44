"""`scenario run-mix`: one adapter trained on a weighted mix of several scenarios, measured against
each scenario's single-task adapter (same rows, same training settings) and the base model.

Each scenario is evaluated on its own held-out rows with its own metrics, and the mix-vs-single
delta gets a paired bootstrap interval, so the report names a winner only where the evidence does.
Every stage is a file in the run folder and is reused on --resume, as in `scenario run`.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
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
from ..evaluation.statistics import Verdict
from ..plugins.scenario import Example
from ..reporting import documents, results
from ..reporting.build import data_summary, hardware_summary, model_info
from ..reporting.mix_results import MixAdapter, MixMetric, MixResults, MixScenario, MixShare, MixTraining
from ..reporting.results import MetricResult
from ..runtime import hardware, models
from ..runtime.environment import Timer, peak_memory_gib, placement, versions
from ..runtime.processes import Processes
from ..training.fit import Fit, saved_summary
from .mix_plan import MixPlan, saved_config
from .run_folder import TUNED, RunFolder

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
    folder: RunFolder,
    progress: Progress,
    quiet: bool = False,
    resume: bool = False,
    timer: Timer | None = None,
) -> MixResults | None:
    """Base answers, one single-task adapter per scenario, the mix adapter, then the results (also
    written as report.json; None on the non-main processes). `prepared` holds each member's
    validated rows, keyed by name."""
    import torch

    timer = timer or Timer()
    config = plan.training_config
    seed = config.run.seed
    mixed_train, mixing = weighted_examples(plan, prepared, seed)
    torch.manual_seed(seed)
    procs = Processes.current()
    hw, device, precision = placement(config, procs)
    if procs.main:
        folder.root.mkdir(parents=True, exist_ok=True)
        atomic.write_text(folder.config, config_mod.save(saved_config(config)))
        for name, part in prepared.items():
            atomic.write_text(folder.member(name).config, config_mod.save(part.config))
            write_split(part, folder.member(name))
    fit = Fit(config, tokenizer, precision, device, quiet, resume, procs)
    stage = AnswerStage(tokenizer, precision, progress, procs, resume)

    def fresh_model() -> Any:
        return models.load_model(config.model.name).to(device)

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
        return None
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
) -> MixResults:
    """Score every scenario's predictions, compare mix with single-task, write report.json and .md."""
    start = time.perf_counter()
    config = plan.training_config
    scenarios = {
        name: _scenario_report(part, answers[name], folder.member(name), MixShare(**mixing[name]))
        for name, part in prepared.items()
    }
    defaults = "core defaults"
    if plan.not_applied:
        defaults += " (each scenario's own model/train/run defaults are not applied to a mix; see below)"
    training = MixTraining(
        method=config.train.method,
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
        run_id=folder.root.name,
        created=created,
        scenarios=scenarios,
        model=model_info(config),
        config=saved_config(config),
        training=training,
        hardware=hardware_summary(hw, precision),
        versions=versions(),
        timings={**timer.timings, "total": round(sum(timer.timings.values()), 2)},
        peak_memory_gib=peak_memory_gib(),
    )
    results.write(folder.report_json, report)
    documents.render(folder.root)
    return report


def _scenario_report(
    part: Prepared, answers: dict[str, list[Answer]], folder: RunFolder, mixing: MixShare
) -> MixScenario:
    """One scenario's section: base, single-task and mix on its own test rows and metrics."""
    scenario, config = part.scenario, part.config
    records = prediction_records(part, answers)
    scored = {model: scoring.score(scenario, part.context, records, model) for model in MODELS}
    atomic.write_jsonl(folder.predictions, records)
    resamples, seed = config.eval.bootstrap, config.run.seed

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
