"""The fine-tune stage: train a model on some rows and keep it in the run folder, or reuse it.

`scenario run` (its adapter and per-group adapters), run-mix (single-task and mix adapters) and
sweep (each trial, then the final run) all fine-tune through `Fit`, so checkpoints, the saved
weights and summary, and the model handed to generation are made one way for every command.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import atomic
from ..data.validation import Prepared
from ..errors import ScenarioPackError
from ..evaluation.answers import Answer, AnswerStage
from ..plugins.scenario import Example
from ..runs.run_folder import TUNED, RunFolder
from ..runtime import models
from ..runtime.environment import release_freed_memory
from ..runtime.processes import Processes
from . import trainer
from .losses import loss_curves, overfitting
from .tuned import for_generation, load_tuned, save_tuned

if TYPE_CHECKING:
    from ..run_config import RunConfig


@dataclass(frozen=True)
class Fit:
    """What every fine-tune of one run shares; a sweep trial replaces `config` with its own."""

    config: RunConfig
    tokenizer: Any
    precision: str
    device: str
    quiet: bool
    resume: bool
    procs: Processes

    def tuned_model(
        self, model: Any, train: list[Example], val: list[Example], run: RunFolder, name: str = TUNED
    ) -> tuple[Any, dict[str, Any]]:
        """Fine-tune `model` and save it as run.tuned(name), atomically; on --resume a saved one is
        loaded instead. Returns the model ready to generate, and the training summary."""
        folder, result_path = run.tuned(name), run.train_result(name)
        if self.resume and folder.exists() and result_path.exists():
            info = json.loads(result_path.read_text(encoding="utf-8"))
            return load_tuned(folder, info["method"], model, self.device), info
        tracking = run.tracking(name) if self.config.train.report_to != "none" else None
        tuned, result = self._train(model, train, val, run, name, self.resume, tracking_dir=tracking)
        release_freed_memory()
        info = train_summary(result, self.precision, self.procs.count)
        if self.procs.main:
            tmp = folder.with_name(f".{folder.name}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            save_tuned(tuned, self.tokenizer, tmp)
            atomic.replace_dir(tmp, folder)
            atomic.write_json(result_path, info)
            atomic.write_jsonl(run.train_log(name), result.log_history)
        if self.procs.count > 1:  # which training rows each process saw: data parallel, auditable
            atomic.write_json(run.rows_seen(name, self.procs.state.process_index), result.row_digests)
        self.procs.wait()
        return for_generation(tuned, info["method"]), info

    def trial(
        self,
        model: Any,
        train: list[Example],
        val: list[Example],
        run: RunFolder,
        name: str,
        callbacks: list[Any],
    ) -> tuple[Any, dict[str, Any]]:
        """A fine-tune that is not kept (a sweep trial): trained as `tuned_model` trains, its
        checkpoints removed when it ends, finished or stopped by a callback."""
        try:
            tuned, result = self._train(model, train, val, run, name, False, callbacks)
        finally:
            shutil.rmtree(run.checkpoints(name), ignore_errors=True)
            release_freed_memory()
        return for_generation(tuned, result.method), train_summary(result, self.precision, self.procs.count)

    def _train(
        self,
        model: Any,
        train: list[Example],
        val: list[Example],
        run: RunFolder,
        name: str,
        resume: bool,
        callbacks: list[Any] | None = None,
        tracking_dir: Path | None = None,
    ) -> tuple[Any, trainer.TrainResult]:
        return trainer.train(
            model,
            self.tokenizer,
            train,
            val,
            self.config,
            models.resolve(self.config.model.name),  # cached: no second conversion or probe
            run.checkpoints(name),
            self.precision,
            self.quiet,
            resume,
            self.device,
            callbacks,
            tracking_dir,
        )


def saved_summary(run: RunFolder, name: str) -> dict[str, Any]:
    """A saved fine-tune's training summary for a report table (its loss curves left out)."""
    path = run.train_result(name)
    if not path.exists():
        raise ScenarioPackError(
            f"{path} is missing, so the training of {run.tuned(name)} cannot be reported. "
            "Run the same command again without --resume."
        )
    info = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in info.items() if k != "loss_curves"}


def per_group(
    prepared: Prepared, run: RunFolder, fit: Fit, stage: AnswerStage
) -> tuple[list[Answer], dict[str, Any]]:
    """One adapter per value of the scenario's group field, each trained on that group's rows only
    and evaluated on that group's test rows; returns answers aligned with the test rows."""
    field_name = prepared.scenario.group_field
    answers: list[Any] = [None] * len(prepared.test)
    summaries = {}
    for value in sorted({row[field_name] for row in prepared.test}):

        def pick(part: str, value: str = value) -> list[int]:
            return [i for i, row in enumerate(getattr(prepared, part)) if row[field_name] == value]

        name, test_idx = run.group_tuned(field_name, value), pick("test")

        def train(name: str = name) -> Any:
            model = models.load_model(prepared.config.model.name).to(fit.device)
            train_rows = [prepared.examples["train"][i] for i in pick("train")]
            val_rows = [prepared.examples["val"][i] for i in pick("val")]
            return fit.tuned_model(model, train_rows, val_rows, run, name)[0]

        label = f"{field_name}={value} adapter"
        found = stage.answers(run.answers(name), prepared, train, label, test_idx)
        for i, answer in zip(test_idx, found, strict=True):
            answers[i] = answer
        summaries[value] = saved_summary(run, name)
    return answers, summaries


def train_summary(result: trainer.TrainResult, precision: str, processes: int) -> dict[str, Any]:
    """What a report says about one fine-tune (saved beside it, so --resume can report it too)."""
    train_losses = [e["loss"] for e in result.log_history if "loss" in e]
    eval_losses = [e["eval_loss"] for e in result.log_history if "eval_loss" in e]
    return {
        "method": result.method,
        "precision": precision,
        "processes": processes,
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        "train_tokens": result.train_tokens,
        "tokens_per_second": round(result.train_tokens / result.seconds, 2) if result.seconds else None,
        "trainable_params": result.trainable_params,
        "total_params": result.total_params,
        "final_train_loss": train_losses[-1] if train_losses else None,
        "final_eval_loss": eval_losses[-1] if eval_losses else None,
        "best_eval_loss": min(eval_losses) if eval_losses else None,
        "best_step": result.best_step,
        "replayed_batches": result.replayed_batches,
        "stopped_early": result.steps < result.planned_steps,
        "overfitting": overfitting(result.log_history),
        "loss_curves": loss_curves(result.log_history),
    }
