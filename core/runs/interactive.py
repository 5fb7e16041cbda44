"""`scenario generate` and `scenario chat`: answer new inputs with a run's tuned model or a base model.

Inputs are formatted with the scenario's own template (the same prompt the model was trained and
evaluated on), so what a user tries is what the report measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import config as config_mod
from ..data import jsonl
from ..errors import ScenarioPackError
from ..evaluation import generation
from ..plugins.scenario import Example, Scenario
from ..reporting import results
from ..reporting.mix_results import MixResults
from ..runtime import hardware, models
from ..training.tuned import load_tokenizer, load_tuned
from .run_folder import RunFolder

if TYPE_CHECKING:
    from ..run_config import EvalConfig


@dataclass
class Session:
    scenario: Scenario
    context: Any
    model: Any
    tokenizer: Any
    precision: str
    eval_config: EvalConfig
    label: str  # what answers: "tuned model of RUN" or "base model NAME"

    def row(self, text: str, fields: dict[str, str]) -> dict[str, Any]:
        """A row from the user's text (the scenario's input field) and --field values; checked."""
        row: dict[str, Any] = {**fields, self.scenario.input_field: text}
        missing = [
            f
            for f in self.scenario.fields
            if f.required and f.name not in self.scenario.target_fields and not row.get(f.name)
        ]
        if missing:
            wanted = ", ".join(f"--field {f.name}=... ({f.description})" for f in missing)
            raise ScenarioPackError(f"{self.scenario.name} needs {wanted} to build a prompt.")
        problems = self.scenario.check_row(row) + [
            (issue.field, issue.message, issue.fix)
            for issue in self.scenario.check_rows([row], self.context, "input")
        ]
        if problems:
            raise ScenarioPackError("; ".join(f"field '{f}': {m}. {fix}" for f, m, fix in problems))
        return row

    def answer(self, rows: list[dict[str, Any]]) -> list[str]:
        examples = [Example(self.scenario.prompt(row, self.context), "") for row in rows]
        cfg = self.eval_config
        budgets = [self.scenario.max_new_tokens(r, self.context, cfg.max_new_tokens) for r in rows]
        outputs = generation.generate(
            self.model,
            self.tokenizer,
            examples,
            budgets,
            cfg.batch_size,
            self.precision,
            options=generation.decoding_options(cfg),
            cache_gib=cfg.cache_gib,
            starts=self.scenario.answer_starts(self.context),  # as the run evaluated it
        )
        return [text.strip() for text, _ in outputs]


def open_session(
    scenario: Scenario, run: RunFolder | None, data: Path | None, model_name: str | None
) -> Session:
    """Load the run's tuned model (--run) or a base model whose context is fitted on --data."""
    hw = hardware.detect()
    if run is not None:
        if not run.report_json.exists():
            raise ScenarioPackError(
                f"{run.report_json} not found: pass the folder that 'scenario run' printed."
            )
        report = results.read(run.report_json)
        if isinstance(report, MixResults):
            raise ScenarioPackError(
                f"{run.root} is a run-mix folder; --run takes a 'scenario run' folder. To try the mix "
                f"adapter, export it (scenario export {run.root} --merged OUT), then use --data F "
                "--model OUT."
            )
        if report.scenario.name != scenario.name:
            raise ScenarioPackError(f"{run.root} is a '{report.scenario.name}' run, not '{scenario.name}'.")
        config = report.config
        train = jsonl.read_saved(run.split("train"))
        context = scenario.build_context(train, config.scenario, Path(report.data.train_file))
        method, base = report.training.method, config.model.name
        model = load_tuned(run.tuned(), method, base, hw.device)
        tokenizer = load_tokenizer(run.tuned())
        label = f"tuned model of {run.root}"
    elif data is not None:
        from ..data.validation import prepare

        chosen = [("--model", {"model": {"name": model_name}})] if model_name else []
        config = config_mod.resolve(scenario.defaults(), None, chosen)
        prepared = prepare(scenario, config, data, None)
        context = prepared.context
        model = models.load_model(config.model.name).to(hw.device)
        tokenizer = models.load_tokenizer(config.model.name)
        label = f"base model {config.model.name}"
    else:
        raise ScenarioPackError(
            "pass --run RUN_DIR (a tuned model) or --data F (the base model, for comparison)."
        )
    precision = hardware.choose_precision(config.model.precision, hw)
    model = generation.inference_model(model, precision)  # cast once, not per answer
    return Session(scenario, context, model, tokenizer, precision, config.eval, label)
