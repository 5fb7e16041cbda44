"""One run: validate, evaluate the base model, fine-tune, evaluate the tuned model, report.

Each stage leaves its output in the run folder; re-running with --resume skips finished stages
(base predictions, the adapter) and resumes training from the last checkpoint.
"""

from __future__ import annotations

import json
import logging
import resource
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import (
    atomic,
    context_answers,
    evaluation,
    few_shot,
    generation,
    hardware,
    models,
    quality,
    report,
    training,
)
from . import config as config_mod
from .errors import ConfigError
from .prepare import Prepared
from .processes import Processes
from .scenario import Example, Scored

log = logging.getLogger(__name__)
Progress = Callable[[str, int], Any]  # (stage description, total) -> context manager with .update(n)
# Per test row: (text, seconds, samples or None, steered or None); see generate_answers.
Output = tuple[Any, ...]


@dataclass
class Timer:
    """Seconds per stage, and the process's peak memory so far at the end of each (which stage set it)."""

    timings: dict[str, float] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)

    def stage(self, name: str, start: float) -> None:
        self.timings[name] = round(time.perf_counter() - start, 2)
        self.peaks[name] = peak_memory_gib()


def peak_memory_gib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return round(kib / (1024 * 1024 if sys.platform != "darwin" else 1024**3), 3)


def placement(config: dict[str, Any], procs: Processes) -> tuple[hardware.Hardware, str, str]:
    """This process's hardware, device (its own GPU under accelerate launch) and compute precision."""
    hw = hardware.detect()
    device = procs.device if procs.count > 1 else hw.device
    return hw, device, hardware.choose_precision(config["model"]["precision"], hw)


def default_run_dir(scenario: str) -> Path:
    return Path("reports") / scenario / datetime.now().strftime("%Y%m%d-%H%M%S")


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("scenario-pack", "torch", "transformers", "trl", "peft", "datasets", "accelerate"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_split(prepared: Prepared, run_dir: Path) -> None:
    """The exact rows of each part, so `scenario eval` can rebuild the context and re-score."""
    for name, rows in (("train", prepared.train), ("val", prepared.val), ("test", prepared.test)):
        atomic.write_jsonl(run_dir / "data" / f"{name}.jsonl", rows)


def check_same_split(prepared: Prepared, run_dir: Path) -> None:
    """--resume reuses saved answers by position: refuse when the held-out rows are not the same."""
    saved = run_dir / "data" / "test.jsonl"
    now = [json.loads(json.dumps(row, ensure_ascii=False, default=str)) for row in prepared.test]
    if saved.exists() and evaluation.read_jsonl(saved) != now:
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
    records = evaluation.prediction_records(prepared.test, references, outputs)
    report_dict = build_report(prepared, run_dir, records, train_info, hw, precision, timer, baseline_info)
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
        tuned, result = training.train(
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


def _train_summary(result: training.TrainResult, precision: str, processes: int) -> dict[str, Any]:
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
        "overfitting": report.overfitting(result.log_history),
        "loss_curves": report.loss_curves(result.log_history),
    }


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
    base = evaluation.score(scenario, prepared.context, records, "base")
    tuned = evaluation.score(scenario, prepared.context, records, "tuned")
    metrics = evaluation.compare_models(scenario, base, tuned, resamples, seed)
    if baseline and records and "few_shot" in records[0]:
        prompted = evaluation.score(scenario, prepared.context, records, "few_shot")
        baseline = {
            **baseline,
            **evaluation.against_baseline(scenario, metrics, prompted, tuned, resamples, seed),
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
        "evaluation": evaluation.how_evaluated(
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
    report.render(run_dir)
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
    report.render(run_dir)
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
            tables[f"Metrics by {name}"], found = evaluation.by_slice(
                scenario, base, tuned, name, resamples, seed
            )
            flags += found
    group_model = f"per_{scenario.group_field}"
    if records and group_model in records[0]:
        per_group = evaluation.score(scenario, prepared.context, records, group_model)
        title = f"Per-{scenario.group_field} adapters vs the single adapter"
        tables[title] = evaluation.group_comparison(
            scenario, tuned, per_group, scenario.group_field, resamples, seed
        )
    return tables, flags


def rescore(run_dir: Path) -> dict[str, Any]:
    """Re-score an existing run's predictions (no generation) and re-render its reports.

    The scenario's context is refitted on the run's own saved training rows, so changed metric code
    applies to exactly the rows the run was evaluated on.
    """
    from . import data, registry

    old = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    scenario = registry.load(old["scenario"]["name"])
    config, info = old["config"], old["data"]
    parts = {
        name: evaluation.read_jsonl(run_dir / "data" / f"{name}.jsonl") for name in ("train", "val", "test")
    }
    train_file = Path(info["train_file"])
    test_file = Path(info["test_file"]) if info["test_file"] else None
    prepared = Prepared(
        scenario,
        config,
        data.Dataset(train_file, [], info["train_sha256"]),
        data.Dataset(test_file, [], info["test_sha256"]) if test_file else None,
        parts["train"],
        parts["val"],
        parts["test"],
        scenario.build_context(parts["train"], config["scenario"], train_file),
        info["stratified"],
        info["duplicates_dropped"],
        old.get("warnings", []),
        info["redacted"] if isinstance(info["redacted"], dict) else {},
        token_stats={k: info[k] for k in ("token_lengths", "truncated") if k in info},
        findings=[quality.Finding(**f) for f in old.get("data_quality", [])],
    )
    context_answers.complete(prepared, run_dir / "stages" / "context_answers.json", None, resume=True)
    records = evaluation.read_predictions(run_dir / "predictions.jsonl")
    timer = Timer({k: v for k, v in old.get("timings", {}).items() if k not in ("report", "total")})
    precision = old["training"].get("precision", "fp32")
    new = build_report(
        prepared, run_dir, records, old["training"], hardware.detect(), precision, timer, old.get("baseline")
    )
    if old.get("sweep"):  # a sweep's trials are not re-run; keep what the sweep added
        kept = {k: v for k, v in old["details"].items() if k.startswith("Sweep:")}
        new = amend_report(run_dir, new, kept, sweep=old["sweep"])
    return new
