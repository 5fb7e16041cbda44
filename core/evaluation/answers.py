"""The answer stage: a model's answers to the held-out rows, saved in the run folder and reused.

`scenario run`, `run-mix` and `sweep` all answer through `generate_answers`, each row with its
scenario's budget; a run's answer stages (`AnswerStage`) save their answers so `--resume` skips them.
Saved answers are matched to rows by position, which is why the rows are saved beside them
(`write_split`) and checked on resume (`check_same_split`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from ..data import jsonl
from ..data.similarity import Progress
from ..data.validation import Prepared
from ..errors import ConfigError
from ..plugins.scenario import Example
from ..runs.run_folder import RunFolder
from ..runtime.processes import Processes
from . import few_shot, generation, scoring

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """One model's answer to one held-out row.

    `samples` are the extra sampled answers when eval.samples > 0; `steered` says, where the
    scenario declares answer starts (a closed set of labels), whether the model's own greedy choice
    would have left that set (None where there is no such set).
    """

    text: str
    seconds: float
    samples: tuple[str, ...] | None = None
    steered: bool | None = None

    def to_json(self) -> list[Any]:
        """The saved shape, [text, seconds, samples, steered], read by earlier versions too."""
        samples = list(self.samples) if self.samples is not None else None
        return [self.text, self.seconds, samples, self.steered]

    @classmethod
    def from_json(cls, saved: list[Any]) -> Answer:
        """Also reads the shorter lists of runs saved before samples or steered existed."""
        text, seconds, samples, steered = (*saved, None, None)[:4]
        return cls(text, seconds, tuple(samples) if samples is not None else None, steered)


def generate_answers(
    model: Any,
    tokenizer: Any,
    prepared: Prepared,
    precision: str,
    progress: Progress,
    label: str,
    indices: list[int] | None = None,
    prompts: list[Example] | None = None,
) -> list[Answer]:
    """Answer the test rows (or the given subset of them), each with its scenario budget.

    `prompts` replaces the test rows' own prompts (the few-shot baseline), aligned with the test rows.
    """
    cfg = prepared.config.eval
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
            cfg.batch_size,
            precision,
            bar.update,
            options,
            cfg.cache_gib,
            trace,
            starts,
        )
    steered: list[bool | None] = [None] * len(examples)
    for batch in trace if starts else []:
        for i, flag in zip(batch.rows, batch.steered, strict=True):
            steered[i] = flag
    n = cfg.samples
    if not n:
        return [Answer(text, sec, None, flag) for (text, sec), flag in zip(greedy, steered, strict=True)]
    sampling = {**options, "do_sample": True, "temperature": float(cfg.temperature), "top_p": 0.95}
    with progress(f"sampling {n} per row ({label})", len(indices) * n) as bar:
        drawn = generation.generate(
            model,
            tokenizer,
            [ex for ex in examples for _ in range(n)],
            [b for b in budgets for _ in range(n)],
            cfg.batch_size,
            precision,
            bar.update,
            sampling,
            cfg.cache_gib,
            None,
            starts,
        )
    return [
        Answer(text, sec, tuple(t for t, _ in drawn[i * n : (i + 1) * n]), steered[i])
        for i, (text, sec) in enumerate(greedy)
    ]


def answer_budget(prepared: Prepared, i: int) -> int:
    """New tokens allowed for test row i: the scenario's budget for that row."""
    default = prepared.config.eval.max_new_tokens
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


@dataclass(frozen=True)
class AnswerStage:
    """What every answer stage of a run shares. A stage's answers are saved as one file, reused on
    --resume when there, and computed otherwise, the rows shared out among the processes."""

    tokenizer: Any
    precision: str
    progress: Progress
    procs: Processes
    resume: bool

    def answers(
        self,
        path: Path,
        prepared: Prepared,
        load: Callable[[], Any],
        label: str,
        indices: list[int] | None = None,
        prompts: list[Example] | None = None,
    ) -> list[Answer]:
        """The answers of the model `load` gives (called only when they are not saved) to the test
        rows, or to those at `indices`; `prompts` as in generate_answers."""
        if self.resume and path.exists():
            log.info("reusing %s", path)
            return [Answer.from_json(saved) for saved in json.loads(path.read_text(encoding="utf-8"))]
        model = load()
        found = self.procs.share(
            list(range(len(prepared.test))) if indices is None else indices,
            lambda mine: generate_answers(
                model, self.tokenizer, prepared, self.precision, self.progress, label, mine, prompts
            ),
        )
        if self.procs.main:
            atomic.write_json(path, [answer.to_json() for answer in found])
        return found


def prediction_records(prepared: Prepared, answers: dict[str, list[Answer]]) -> list[dict[str, Any]]:
    """One record per test row with each model's answer (the input of scoring)."""
    references = [ex.completion for ex in prepared.examples["test"]]
    saved = {model: [answer.to_json() for answer in found] for model, found in answers.items()}
    return scoring.prediction_records(prepared.test, references, saved)


def write_split(prepared: Prepared, run: RunFolder) -> None:
    """The exact rows of each part, so `scenario eval` can rebuild the context and re-score."""
    for part, rows in (("train", prepared.train), ("val", prepared.val), ("test", prepared.test)):
        atomic.write_jsonl(run.split(part), rows)


def check_same_split(prepared: Prepared, run: RunFolder) -> None:
    """--resume reuses saved answers by position: refuse when the held-out rows are not the same."""
    saved = run.split("test")
    now = [json.loads(json.dumps(row, ensure_ascii=False, default=str)) for row in prepared.test]
    if saved.exists() and jsonl.read_saved(saved) != now:
        raise ConfigError(
            f"--resume: the held-out rows differ from those of the run in {run.root} (the data, a setting "
            "or the split changed). Start a new --output, or resume with the run's own data and config."
        )
