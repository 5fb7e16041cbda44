"""One run: validate, evaluate the base model, fine-tune, evaluate the tuned model, report.

Each stage leaves its output in the run folder; re-running with --resume skips finished stages
(base predictions, the adapter) and resumes training from the last checkpoint.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from .. import config as config_mod
from ..data.validation import Prepared
from ..errors import ConfigError
from ..evaluation import context_answers, few_shot, generation, scoring
from ..plugins.scenario import Example
from ..reporting import documents
from ..reporting.build import build_report
from ..reporting.report_parts import TrainingSummary
from ..reporting.results import FewShotPrompts
from ..runtime import models
from ..runtime.environment import Timer, placement
from ..runtime.processes import Processes
from ..training import trainer

log = logging.getLogger(__name__)
Progress = Callable[[str, int], Any]  # (stage description, total) -> context manager with .update(n)
# Per test row: (text, seconds, samples or None, steered or None); see generate_answers.
Output = tuple[Any, ...]


def write_split(prepared: Prepared, run_dir: Path) -> None:
    """The exact rows of each part, so `scenario eval` can rebuild the context and re-score."""
    for name, rows in (("train", prepared.train), ("val", prepared.val), ("test", prepared.test)):
        atomic.write_jsonl(run_dir / "data" / f"{name}.jsonl", rows)


def check_same_split(prepared: Prepared, run_dir: Path) -> None:
    """--resume reuses saved answers by position: refuse when the held-out rows are not the same."""
    saved = run_dir / "data" / "test.jsonl"
    now = [json.loads(json.dumps(row, ensure_ascii=False, default=str)) for row in prepared.test]
    if saved.exists() and scoring.read_jsonl(saved) != now:
        raise ConfigError(
            f"--resume: the held-out rows differ from those of the run in {run_dir} (the data, a setting "
            "or the split changed). Start a new --output, or resume with the run's own data and config."
        )


def generate_answers(
    model: Any,
    tokenizer: Any,
    prepared: Prepared,
    precision: str,
    progress: Progress,
    label: str,
    indices: list[int] | None = None,
    prompts: list[Example] | None = None,
) -> list[Output]:
    """Generate for the test rows (or the given subset of them), each with its scenario budget.

    `prompts` replaces the test rows' own prompts (the few-shot baseline), aligned with the test rows.
    Each output is (text, seconds, samples, steered): samples are the extra sampled answers when
    eval.samples > 0; steered says, where the scenario declares answer starts (a closed set of
    labels), whether the model's own greedy choice would have left that set.
    """
    cfg = prepared.config["eval"]
    indices = list(range(len(prepared.test))) if indices is None else indices
    budgets = [answer_budget(prepared, i) for i in indices]
    examples = [(prompts or prepared.examples["test"])[i] for i in indices]
    options = generation.decoding_options(cfg)
    starts = prepared.scenario.answer_starts(prepared.context)
    model = generation.inference_model(model, precision)  # one cast copy for greedy and sampled answers
    trace: list[generation.Batch] = []
    with progress(f"generating ({label})", len(indices)) as bar:
        greedy = generation.generate(
            model,
            tokenizer,
            examples,
            budgets,
            cfg["batch_size"],
            precision,
            bar.update,
            options,
            cfg["batch_tokens"],
            trace,
            starts,
        )
    steered: list[bool | None] = [None] * len(examples)
    for batch in trace if starts else []:
        for i, flag in zip(batch.rows, batch.steered, strict=True):
            steered[i] = flag
    n = cfg["samples"]
    if not n:
        return [(text, sec, None, flag) for (text, sec), flag in zip(greedy, steered, strict=True)]
    sampling = {**options, "do_sample": True, "temperature": float(cfg["temperature"]), "top_p": 0.95}
    with progress(f"sampling {n} per row ({label})", len(indices) * n) as bar:
        drawn = generation.generate(
            model,
            tokenizer,
            [ex for ex in examples for _ in range(n)],
            [b for b in budgets for _ in range(n)],
            cfg["batch_size"],
            precision,
            bar.update,
            sampling,
            cfg["batch_tokens"],
            None,
            starts,
        )
    return [
        (text, sec, [t for t, _ in drawn[i * n : (i + 1) * n]], steered[i])
        for i, (text, sec) in enumerate(greedy)
    ]


def answer_budget(prepared: Prepared, i: int) -> int:
    """New tokens allowed for test row i: the scenario's budget for that row."""
    default = prepared.config["eval"]["max_new_tokens"]
    return prepared.scenario.max_new_tokens(prepared.test[i], prepared.context, default)


def few_shot_prompts(prepared: Prepared, tokenizer: Any, model: Any, shots: int) -> tuple[list, dict]:
    """The test rows' prompts with their nearest training rows as solved examples, cut to the context."""
    limit = getattr(model.config, "max_position_embeddings", None) or tokenizer.model_max_length
    field = prepared.scenario.input_field

    def fits(i: int, example: Example) -> bool:
        text = generation.render_prompts(tokenizer, [example])[0]
        prompt_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        return prompt_tokens + answer_budget(prepared, i) <= limit

    prompts, counts = few_shot.build(
        prepared.examples["train"],
        [str(row[field]) for row in prepared.train],
        prepared.examples["test"],
        [str(row[field]) for row in prepared.test],
        shots,
        fits,
    )
    info = {
        "name": f"few-shot:{shots}",
        "shots": shots,
        "selection": few_shot.METHOD,
        "context_tokens": limit,
        "rows_with_fewer_shots": sum(c < shots for c in counts),
        "mean_shots": round(sum(counts) / len(counts), 2) if counts else 0,
    }
    return prompts, info


def stage_outputs(path: Path, compute: Callable[[], list[Output]], resume: bool, procs: Processes) -> list:
    if resume and path.exists():
        log.info("reusing %s", path)
        return [tuple(x) for x in json.loads(path.read_text(encoding="utf-8"))]
    outputs = compute()
    if procs.main:
        atomic.write_json(path, outputs)
    return outputs


def run(
    prepared: Prepared,
    tokenizer: Any,
    run_dir: Path,
    progress: Progress,
    quiet: bool = False,
    resume: bool = False,
    timer: Timer | None = None,
) -> dict[str, Any]:
    """Execute every stage after validation; return the report dict (also written as report.json).

    `tokenizer` is the one validation measured the rows with.
    """
    import torch

    timer = timer or Timer()
    config = prepared.config
    shots = few_shot.Baseline.parse(config["eval"]["baseline"]).shots
    torch.manual_seed(config["run"]["seed"])
    procs = Processes.current()
    hw, device, precision = placement(config, procs)
    if resume:
        check_same_split(prepared, run_dir)
    if procs.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(run_dir / "config.yaml", config_mod.save(config))
        write_split(prepared, run_dir)

    start = time.perf_counter()
    source = models.resolve(config["model"]["name"])
    tokenizer.padding_side = "left"
    model = models.load_model(config["model"]["name"]).to(device)
    timer.stage("load_model", start)
    start = time.perf_counter()
    base_model = context_answers.BaseModel(lambda: model, tokenizer, precision, progress, procs)
    if context_answers.complete(prepared, run_dir / "stages" / "context_answers.json", base_model, resume):
        timer.stage("context_answers", start)
    everything = list(range(len(prepared.test)))

    def evaluate(
        model: Any, label: str, indices: list[int], prompts: list[Example] | None = None
    ) -> Callable[[], list[Output]]:
        return lambda: procs.share(
            indices,
            lambda mine: generate_answers(
                model, tokenizer, prepared, precision, progress, label, mine, prompts
            ),
        )

    start = time.perf_counter()
    base = stage_outputs(
        run_dir / "stages" / "base_outputs.json", evaluate(model, "base model", everything), resume, procs
    )
    timer.stage("base_eval", start)
    outputs = {"base": base}

    baseline_info = None
    if shots:
        start = time.perf_counter()
        prompts, baseline_info = few_shot_prompts(prepared, tokenizer, model, shots)
        if baseline_info["mean_shots"]:
            outputs["few_shot"] = stage_outputs(
                run_dir / "stages" / "few_shot_outputs.json",
                evaluate(model, f"base model, {shots}-shot", everything, prompts),
                resume,
                procs,
            )
            timer.stage("few_shot_eval", start)
        else:
            prepared.warnings.append(
                f"no few-shot baseline: not one training example fits the model's "
                f"{baseline_info['context_tokens']}-token context beside a test row and its answer budget."
            )

    start = time.perf_counter()
    fit = Fit(config, source, tokenizer, precision, device, quiet, resume, procs)
    tuned, train_info = fit.tuned_model(
        model, prepared.examples["train"], prepared.examples["val"], run_dir, "adapter"
    )
    timer.stage("train", start)

    start = time.perf_counter()
    if train_info["method"] == "lora":
        tuned = tuned.merge_and_unload()  # same outputs, no adapter overhead per token
    tuned_outputs = stage_outputs(
        run_dir / "stages" / "tuned_outputs.json", evaluate(tuned, "tuned model", everything), resume, procs
    )
    timer.stage("tuned_eval", start)
    outputs["tuned"] = tuned_outputs

    field_name = prepared.scenario.group_field
    if config["train"]["per_group"] and field_name:
        start = time.perf_counter()
        del model, tuned  # each group starts from a fresh copy of the base model
        outputs[f"per_{field_name}"], train_info["per_group"] = _per_group(prepared, run_dir, fit, evaluate)
        timer.stage(f"per_{field_name}", start)
    if not procs.main:
        return {}

    references = [ex.completion for ex in prepared.examples["test"]]
    records = scoring.prediction_records(prepared.test, references, outputs)
    prompts = FewShotPrompts(**baseline_info) if baseline_info else None
    report_dict = build_report(
        prepared, run_dir, records, TrainingSummary.from_json(train_info), hw, precision, timer, prompts
    )
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return report_dict


@dataclass
class Fit:
    """What every fine-tune of one run shares; trains or, on --resume, reloads a finished one."""

    config: dict[str, Any]
    source: str
    tokenizer: Any
    precision: str
    device: str
    quiet: bool
    resume: bool
    procs: Processes

    def tuned_model(
        self, model: Any, train: list, val: list, run_dir: Path, name: str
    ) -> tuple[Any, dict[str, Any]]:
        """Fine-tune `model` and save it as run_dir/name (adapter or full checkpoint), atomically."""
        from peft import PeftModel

        out_dir, stem = run_dir / name, name.replace("/", "_")
        result_path = run_dir / "stages" / f"{stem}_train.json"
        if self.resume and out_dir.exists() and result_path.exists():
            info = json.loads(result_path.read_text(encoding="utf-8"))
            if info["method"] == "full":
                return models.load_model(str(out_dir)).to(self.device), info
            return PeftModel.from_pretrained(model, out_dir), info
        self.tokenizer.padding_side = "right"
        tuned, result = trainer.train(
            model,
            self.tokenizer,
            train,
            val,
            self.config,
            self.source,
            run_dir / "checkpoints" / name,
            self.precision,
            self.quiet,
            self.resume,
            self.device,
        )
        self.tokenizer.padding_side = "left"
        info = _train_summary(result, self.precision, self.procs.count)
        if self.procs.main:
            tmp = out_dir.with_name(f".{out_dir.name}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tuned.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            atomic.replace_dir(tmp, out_dir)
            atomic.write_json(result_path, info)
            log_path = run_dir / (
                "train_log.jsonl" if name == "adapter" else f"stages/{stem}_train_log.jsonl"
            )
            atomic.write_jsonl(log_path, result.log_history)
        if self.procs.count > 1:  # which training rows each process saw: data parallel, auditable
            atomic.write_json(
                run_dir / "stages" / f"{stem}_rows_rank{self.procs.state.process_index}.json",
                result.row_digests,
            )
        self.procs.wait()
        return tuned, info


def _per_group(
    prepared: Prepared, run_dir: Path, fit: Fit, evaluate: Callable[[Any, str, list[int]], Callable[[], list]]
) -> tuple[list[Output], dict[str, Any]]:
    """One adapter per value of the scenario's group field, each trained on that group's rows only
    and evaluated on that group's test rows; returns outputs aligned with the test rows."""
    field_name = prepared.scenario.group_field
    outputs: list[Any] = [None] * len(prepared.test)
    summaries = {}
    for value in sorted({row[field_name] for row in prepared.test}):

        def pick(part: str, value: str = value) -> list[int]:
            return [i for i, row in enumerate(getattr(prepared, part)) if row[field_name] == value]

        name = f"adapters/{field_name}={_slug(value)}"
        stem, test_idx = name.replace("/", "_"), pick("test")

        def compute(name: str = name, test_idx: list[int] = test_idx, value: str = value) -> list:
            model = models.load_model(prepared.config["model"]["name"]).to(fit.device)
            tuned, _ = fit.tuned_model(
                model,
                [prepared.examples["train"][i] for i in pick("train")],
                [prepared.examples["val"][i] for i in pick("val")],
                run_dir,
                name,
            )
            if fit.config["train"]["method"] == "lora":
                tuned = tuned.merge_and_unload()
            return evaluate(tuned, f"{field_name}={value} adapter", test_idx)()

        results = stage_outputs(run_dir / "stages" / f"{stem}_outputs.json", compute, fit.resume, fit.procs)
        for i, out in zip(test_idx, results, strict=True):
            outputs[i] = out
        info = json.loads((run_dir / "stages" / f"{stem}_train.json").read_text("utf-8"))
        summaries[value] = {k: v for k, v in info.items() if k != "loss_curves"}
    return outputs, summaries


def _slug(value: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(value)) or "_"


def _train_summary(result: trainer.TrainResult, precision: str, processes: int) -> dict[str, Any]:
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
        "stopped_early": result.steps < result.planned_steps,
        "overfitting": documents.overfitting(result.log_history),
        "loss_curves": documents.loss_curves(result.log_history),
    }
