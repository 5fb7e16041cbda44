"""`scenario sweep`: choose training settings on the validation split, then test the choice once.

Every trial fine-tunes a fresh copy of the base model on the training rows and is scored by the
scenario's primary metric on answers generated for the validation rows (carved from the training
data). Optuna's TPE sampler proposes settings; its median pruner stops trials whose validation loss
trails the others'. The test rows are only used by the final run of the chosen settings.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import atomic
from .. import config as config_mod
from ..data.similarity import Progress
from ..data.validation import Prepared
from ..errors import ConfigError, ScenarioPackError
from ..evaluation import context_answers, scoring
from ..evaluation.answers import generate_answers, prediction_records
from ..reporting.build import amend_report
from ..reporting.results import RunResults, SweepSummary
from ..runtime import models
from ..runtime.environment import Timer, placement
from ..runtime.processes import Processes
from ..training import trainer
from ..training.fit import Fit
from .run import forget_fine_tune, run
from .run_folder import RunFolder

if TYPE_CHECKING:
    from ..run_config import RunConfig

LR_SCALE = "lr_scale"  # learning rate as a multiple of the method's own default (see trainer.METHOD_LR)
SEARCHABLE = ("train.", "eval.", "data.max_length")


@dataclass(frozen=True)
class Param:
    """One searched setting: a config key with a list of choices or a numeric range."""

    key: str  # "section.key", or LR_SCALE
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None

    @classmethod
    def parse(cls, spec: str) -> Param:
        """`section.key=a,b,c` (choices) or `section.key=LOW:HIGH` (ints: uniform; floats: log-uniform)."""
        key, sep, values = spec.partition("=")
        if not sep or "." not in key or not values:
            raise ConfigError(
                f"--param {spec!r}: write section.key=a,b,c for choices or section.key=LOW:HIGH for a range, "
                "e.g. --param train.lora_alpha=16,32 or --param train.lr=1e-5:1e-3."
            )
        if ":" in values:
            low, high = (config_mod.scalar(v) for v in values.split(":", 1))
            if not all(isinstance(v, int | float) for v in (low, high)) or low >= high:
                raise ConfigError(f"--param {spec!r}: a range needs two numbers, LOW < HIGH.")
            if isinstance(low, float) or isinstance(high, float):
                if low <= 0:
                    raise ConfigError(f"--param {spec!r}: a float range is searched on a log scale; LOW > 0.")
                return cls(key, low=float(low), high=float(high))
            return cls(key, low=low, high=high)
        return cls(key, choices=tuple(config_mod.scalar(v) for v in values.split(",")))

    def suggest(self, trial: Any) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.key, list(self.choices))
        if isinstance(self.low, float):
            return trial.suggest_float(self.key, self.low, self.high, log=True)
        return trial.suggest_int(self.key, self.low, self.high)


def search_space(config: RunConfig, params: tuple[str, ...]) -> list[Param]:
    """The default space (method, learning rate, epochs, LoRA rank), with the user's --param on top."""
    space = {
        "train.method": Param("train.method", choices=("lora", "full")),
        LR_SCALE: Param(LR_SCALE, low=0.3, high=3.0),
        "train.lora_r": Param("train.lora_r", choices=(4, 8, 16, 32)),
    }
    if config.train.max_steps is None:
        space["train.epochs"] = Param("train.epochs", low=1, high=3)
    for spec in params:
        param = Param.parse(spec)
        if not param.key.startswith(SEARCHABLE):
            raise ConfigError(
                f"--param {spec!r}: only settings a trial applies can be searched: train.*, eval.* and "
                "data.max_length (the data split, the model and the seed are fixed for the whole sweep)."
            )
        probe = param.choices or (param.low, param.high)
        for value in probe:  # each value must be one the run config accepts
            section, key = param.key.split(".", 1)
            config_mod.resolve(config.to_dict(), None, [(f"--param {spec}", {section: {key: value}})])
        space[param.key] = param
        if param.key == "train.lr":
            space.pop(LR_SCALE, None)
    return list(space.values())


def trial_settings(trial: Any, space: list[Param], config: RunConfig) -> dict[str, Any]:
    """Draw one value per searched key; LoRA rank only matters (and is drawn) for LoRA."""
    chosen: dict[str, Any] = {}
    for param in space:
        if param.key == "train.lora_r" and chosen.get("train.method", config.train.method) != "lora":
            continue
        chosen[param.key] = param.suggest(trial)
    if LR_SCALE in chosen:
        # the scale applies to the trial's method's default, or to a fixed lr moved to that method
        # in the proportion of the two defaults (a LoRA lr is far too high for full fine-tuning)
        fixed, method = config.train.method, chosen.get("train.method", config.train.method)
        base = trainer.METHOD_LR[method]
        if config.train.lr is not None:
            base *= config.train.lr / trainer.METHOD_LR[fixed]
        chosen["train.lr"] = float(f"{base * chosen.pop(LR_SCALE):.3g}")
    return chosen


def _nested(settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{"train.lr": 1e-3} -> {"train": {"lr": 1e-3}}: the shape of a run config file."""
    out: dict[str, dict[str, Any]] = {}
    for dotted, value in settings.items():
        section, key = dotted.split(".", 1)
        out.setdefault(section, {})[key] = value
    return out


def _pruning_callback(trial: Any, sign: float) -> Any:
    """Report validation loss at each evaluation (signed so 'better' matches the study's direction)
    and stop the trial when the median pruner says it trails the trials before it."""
    import optuna
    from transformers import TrainerCallback

    class ReportValidationLoss(TrainerCallback):
        evaluations = 0

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any) -> None:
            if metrics and "eval_loss" in metrics:
                self.evaluations += 1
                trial.report(sign * metrics["eval_loss"], self.evaluations)
                if trial.should_prune():
                    raise optuna.TrialPruned()

    return ReportValidationLoss()


def run_sweep(
    prepared: Prepared,
    tokenizer: Any,
    folder: RunFolder,
    space: list[Param],
    trials: int,
    minutes: float | None,
    progress: Progress,
    echo: Callable[[str], None],
    quiet: bool = False,
    resume: bool = False,
    timer: Timer | None = None,
) -> RunResults | None:
    """Run the trials, write the chosen settings as best.yaml, run them once on the test rows."""
    import optuna

    if not prepared.val:
        raise ConfigError("a sweep chooses on the validation split, and it is empty; set data.val_size > 0.")
    procs = Processes.current()
    if procs.count > 1:
        raise ConfigError(
            "scenario sweep runs in one process; run it without accelerate launch, then launch the final "
            f"`scenario run --config {folder.best_config.name}` on several processes."
        )
    timer = timer or Timer()
    config, scenario = prepared.config, prepared.scenario
    primary = scenario.primary_metric
    maximize = primary.direction == "higher"
    folder.root.mkdir(parents=True, exist_ok=True)
    db = folder.sweep_db
    if not resume:
        db.unlink(missing_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="sweep",
        storage=f"sqlite:///{db}",
        load_if_exists=True,
        direction="maximize" if maximize else "minimize",
        sampler=optuna.samplers.TPESampler(seed=config.run.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    finished = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED
    done = len(study.get_trials(states=finished))
    _, device, precision = placement(config, procs)
    fit = Fit(config, tokenizer, precision, device, quiet, resume, procs)
    start = time.perf_counter()
    base = context_answers.BaseModel(  # trials score with the context: finish it before the first
        lambda: models.load_model(config.model.name).to(device), tokenizer, precision, progress, procs
    )
    if context_answers.complete(prepared, folder.context_answers(), base, resume):
        timer.stage("context_answers", start)

    def objective(trial: Any) -> float:
        settings = trial_settings(trial, space, config)
        trial.set_user_attr("settings", settings)
        trial_config = config.with_values(settings)
        validation = dataclasses.replace(  # the trial's eval settings apply to its validation answers
            prepared,
            config=trial_config,
            test=prepared.val,
            examples={**prepared.examples, "test": prepared.examples["val"]},
        )
        started = time.perf_counter()
        model = models.load_model(config.model.name).to(device)
        try:
            tuned, info = dataclasses.replace(fit, config=trial_config).trial(
                model,
                prepared.examples["train"],
                prepared.examples["val"],
                folder,
                f"trial-{trial.number}",
                [_pruning_callback(trial, -1.0 if maximize else 1.0)],
            )
        except optuna.TrialPruned:
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
            echo(f"trial {trial.number}: {_describe(settings)} -> pruned (validation loss behind the median)")
            raise
        trial.set_user_attr("best_eval_loss", info["best_eval_loss"])
        answers = generate_answers(tuned, tokenizer, validation, precision, progress, f"trial {trial.number}")
        records = prediction_records(validation, {"tuned": answers})
        value = primary.aggregate(scoring.score(scenario, prepared.context, records, "tuned"))
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
        echo(
            f"trial {trial.number}: {_describe(settings)} -> {primary.name} {value:.3f} on "
            f"{len(validation.test)} validation rows ({time.perf_counter() - started:.0f} s)"
        )
        return value if not math.isnan(value) else (-math.inf if maximize else math.inf)

    start = time.perf_counter()
    spent = sum(t.user_attrs.get("seconds", 0.0) for t in study.trials)  # by earlier, resumed sessions
    if done < trials and (not minutes or spent < minutes * 60):
        timeout = minutes * 60 - spent if minutes else None
        study.optimize(objective, n_trials=trials - done, timeout=timeout)
    timer.stage("sweep", start)
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise ScenarioPackError(
            "no trial finished (every one was pruned or interrupted); raise --trials or --minutes."
        )
    chosen = study.best_trial.user_attrs["settings"]
    _forget_other_choice(folder, chosen)
    atomic.write_text(folder.best_config, config_mod.save(_nested(chosen)))
    echo(f"chosen: {_describe(chosen)}; written to {folder.best_config} (reuse with --config)")

    prepared = dataclasses.replace(prepared, config=config.with_values(chosen))
    result = run(prepared, tokenizer, folder, progress, quiet=quiet, resume=resume, timer=timer)
    if result:
        result = _add_sweep_tables(folder, study, primary.name, chosen, trials, minutes)
    return result


def _forget_other_choice(folder: RunFolder, chosen: dict[str, Any]) -> None:
    """A resumed sweep may choose differently (more trials, more time): the final run's fine-tune
    and tuned answers then belong to the old choice and must be redone, not reused."""
    choice = folder.sweep_choice
    if choice.exists() and json.loads(choice.read_text(encoding="utf-8")) != chosen:
        forget_fine_tune(folder)
    atomic.write_json(choice, chosen)


def _describe(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in settings.items())


def _add_sweep_tables(
    folder: RunFolder, study: Any, metric: str, chosen: dict[str, Any], trials: int, minutes: float | None
) -> RunResults:
    """Put the trials table and the chosen settings into the final run's report and re-render it."""
    keys = sorted({k for t in study.trials for k in t.user_attrs.get("settings", {})})
    rows = []
    for t in study.trials:
        settings = t.user_attrs.get("settings", {})
        state = {"RUNNING": "interrupted"}.get(t.state.name, t.state.name.lower())
        rows.append(
            [t.number, state, *[settings.get(k) for k in keys], t.value if state == "complete" else None]
            + [t.user_attrs.get("best_eval_loss"), t.user_attrs.get("seconds")]
        )
    budget = f"{trials} trials" + (f" or {minutes:g} minutes" if minutes else "")
    tables = {
        "Sweep: trials (chosen on the validation split; test rows unused)": {
            "columns": ["trial", "state", *[k.split(".", 1)[1] for k in keys]]
            + [f"validation {metric}", "best validation loss", "seconds"],
            "rows": rows,
        },
        f"Sweep: chosen configuration ({folder.best_config.name})": {
            "columns": ["setting", "value"],
            "rows": [[k, v] for k, v in chosen.items()]
            + [["trial", study.best_trial.number], ["budget", budget]],
        },
    }
    return amend_report(folder.root, tables, SweepSummary(chosen, study.best_trial.number, budget))
