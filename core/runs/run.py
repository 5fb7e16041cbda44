"""`scenario run`: answer the held-out rows with the base model, fine-tune, answer with the tuned
model, then score and compare.

Each stage leaves its output in the run folder; re-running with --resume skips finished stages
(base answers, the adapter) and resumes training from the last checkpoint.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import atomic
from .. import config as config_mod
from ..data.similarity import Progress
from ..data.validation import Prepared
from ..evaluation import context_answers, few_shot
from ..evaluation.answers import (
    AnswerStage,
    check_same_split,
    few_shot_prompts,
    prediction_records,
    write_split,
)
from ..reporting import tracking
from ..reporting.build import build_report
from ..reporting.report_parts import TrainingSummary
from ..reporting.results import FewShotPrompts, RunResults
from ..runtime import models
from ..runtime.environment import Timer, placement
from ..runtime.processes import Processes
from ..training.fit import Fit, per_group
from . import estimates
from .run_folder import RunFolder


def run(
    prepared: Prepared,
    tokenizer: Any,
    folder: RunFolder,
    progress: Progress,
    quiet: bool = False,
    resume: bool = False,
    timer: Timer | None = None,
    note: Callable[[str], None] = lambda _: None,
) -> RunResults | None:
    """Every stage after validation; return the results (also written as report.json), or None on
    processes other than the main one.

    `tokenizer` is the one validation measured the rows with; `note` receives the stages' expected
    durations before the first of them starts.
    """
    import torch

    timer = timer or Timer()
    config = prepared.config
    shots = few_shot.Baseline.parse(config.eval.baseline).shots
    torch.manual_seed(config.run.seed)
    procs = Processes.current()
    hw, device, precision = placement(config, procs)
    if resume:
        check_same_split(prepared, folder)
    if procs.main:
        folder.root.mkdir(parents=True, exist_ok=True)
        atomic.write_text(folder.config, config_mod.save(config))
        write_split(prepared, folder)

    start = time.perf_counter()
    model = models.load_model(config.model.name).to(device)
    timer.stage("load_model", start)
    start = time.perf_counter()
    base_model = context_answers.BaseModel(lambda: model, tokenizer, precision, progress, procs)
    if context_answers.complete(prepared, folder.context_answers(), base_model, resume):
        timer.stage("context_answers", start)
    stage = AnswerStage(tokenizer, precision, progress, procs, resume)
    prompts, baseline = few_shot_prompts(prepared, tokenizer, model, shots) if shots else (None, None)
    outputs = _stage_outputs(folder)
    done = {name for name, path in outputs.items() if resume and path.exists()}
    if procs.main and len(done) < len(outputs):
        start = time.perf_counter()
        few = prompts if baseline and baseline["mean_shots"] else None
        expected = estimates.expect(prepared, tokenizer, model, precision, few, done)
        timer.expected.update({name: round(s, 1) for name, s in expected.seconds.items()})
        timer.stage("estimate", start)
        if expected.seconds:
            note(expected.message())

    start = time.perf_counter()
    answers = {"base": stage.answers(folder.answers("base"), prepared, lambda: model, "base model")}
    timer.stage("base_eval", start)
    if baseline:
        start = time.perf_counter()
        if baseline["mean_shots"]:
            label = f"base model, {shots}-shot"
            few = stage.answers(folder.answers("few_shot"), prepared, lambda: model, label, prompts=prompts)
            answers["few_shot"] = few
            timer.stage("few_shot_eval", start)
        else:
            prepared.add_warning(
                f"no few-shot baseline: not one training example fits the model's "
                f"{baseline['context_tokens']}-token context beside a test row and its answer budget."
            )

    start = time.perf_counter()
    fit = Fit(config, tokenizer, precision, device, quiet, resume, procs)
    tuned, train_info = fit.tuned_model(model, prepared.examples["train"], prepared.examples["val"], folder)
    timer.stage("train", start)
    start = time.perf_counter()
    answers["tuned"] = stage.answers(folder.answers("tuned"), prepared, lambda: tuned, "tuned model")
    timer.stage("tuned_eval", start)

    group = prepared.scenario.group_field
    if config.train.per_group and group:
        start = time.perf_counter()
        del model, tuned  # each group starts from a fresh copy of the base model
        answers[f"per_{group}"], train_info["per_group"] = per_group(prepared, folder, fit, stage)
        timer.stage(f"per_{group}", start)
    if not procs.main:
        return None

    records = prediction_records(prepared, answers)
    prompts = FewShotPrompts(**baseline) if baseline else None
    training = TrainingSummary.from_json(train_info)
    report = build_report(prepared, folder.root, records, training, hw, precision, timer, prompts)
    if config.train.report_to != "none":
        tracking.log_results(config.train.report_to, folder.tracking(), report)
    shutil.rmtree(folder.checkpoints(), ignore_errors=True)
    return report


def _stage_outputs(folder: RunFolder) -> dict[str, Path]:
    """What each estimated stage leaves behind; a --resume skips the stages whose output is there."""
    return {
        "base_eval": folder.answers("base"),
        "few_shot_eval": folder.answers("few_shot"),
        "train": folder.train_result(),
        "tuned_eval": folder.answers("tuned"),
    }


def forget_fine_tune(folder: RunFolder) -> None:
    """Remove what this recipe's fine-tune made (the adapter, its summary, the tuned answers), so a
    --resume with other training settings redoes them instead of reusing them."""
    shutil.rmtree(folder.tuned(), ignore_errors=True)
    for path in (folder.train_result(), folder.answers("tuned")):
        path.unlink(missing_ok=True)
