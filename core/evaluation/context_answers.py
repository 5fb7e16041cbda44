"""The base model's answers to training rows, for a scenario whose context needs them.

Validation fits each scenario's context before any model is loaded; a part of it may need the base
model itself (content's brand-voice score, when no off-brand texts are given, takes the base model's
answers to training briefs as its other voices). Once a stage has the base model, core generates
those answers here, in the prompt format and with the decoding options of the evaluation, keeps
them in the run folder's stages so a resumed run or `scenario eval` reuses them, and hands them to
`Scenario.complete_context`. Only training rows are asked for: held-out rows are answered once,
by the evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from ..data.similarity import Progress
from ..data.validation import Prepared
from ..errors import ScenarioPackError
from ..runtime.processes import Processes
from . import generation


@dataclass
class BaseModel:
    """What generating with the base model takes; `load` is called only when answers are missing."""

    load: Callable[[], Any]
    tokenizer: Any
    precision: str
    progress: Progress
    procs: Processes


def complete(prepared: Prepared, path: Path, base: BaseModel | None, resume: bool) -> bool:
    """Let the scenario finish its context; return whether it asked for answers (a stage to time).

    Answers are saved at `path` (a stage file). Without `base` only saved answers may be used
    (re-scoring generates nothing); they are reused on resume when made for the same prompts."""
    scenario, context, eval_config = prepared.scenario, prepared.context, prepared.config.eval
    asked = False

    def generate(rows: list[dict[str, Any]]) -> list[str]:
        nonlocal asked
        asked = True
        examples = [scenario.format(row, context) for row in rows]
        prompts = [ex.prompt for ex in examples]
        saved = json.loads(path.read_text(encoding="utf-8")) if (resume and path.is_file()) else None
        if saved and saved["prompts"] == prompts:
            return list(saved["answers"])
        if base is None:
            raise ScenarioPackError(
                f"{path}: the base model's answers to {len(rows)} training rows are missing or were made "
                "for other prompts, and re-scoring generates nothing. Re-run the run with --resume."
            )
        model = generation.inference_model(base.load(), base.precision)
        budgets = [scenario.max_new_tokens(row, context, eval_config.max_new_tokens) for row in rows]
        starts = scenario.answer_starts(context)

        def answer(mine: list[int]) -> list[str]:
            with base.progress("generating (base model, training rows for the context)", len(mine)) as bar:
                outputs = generation.generate(
                    model,
                    base.tokenizer,
                    [examples[i] for i in mine],
                    [budgets[i] for i in mine],
                    eval_config.batch_size,
                    base.precision,
                    bar.update,
                    generation.decoding_options(eval_config),
                    eval_config.cache_gib,
                    None,
                    starts,
                )
            return [text for text, _ in outputs]

        answers = base.procs.share(list(range(len(rows))), answer)
        if base.procs.main:
            atomic.write_json(path, {"prompts": prompts, "answers": answers})
        return answers

    scenario.complete_context(context, prepared.train, generate)
    return asked
