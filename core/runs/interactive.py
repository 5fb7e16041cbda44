"""`scenario generate` and `scenario chat`: answer new inputs with a run's tuned model or a base model.

Inputs are formatted with the scenario's own template (the same prompt the model was trained and
evaluated on), so what a user tries is what the report measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import config as config_mod
from ..data import jsonl
from ..errors import ScenarioPackError
from ..evaluation import generation
from ..plugins.scenario import Example, Scenario
from ..runtime import hardware, models


@dataclass
class Session:
    scenario: Scenario
    context: Any
    model: Any
    tokenizer: Any
    precision: str
    eval_config: dict[str, Any]
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
        budgets = [self.scenario.max_new_tokens(r, self.context, cfg["max_new_tokens"]) for r in rows]
        outputs = generation.generate(
            self.model,
            self.tokenizer,
            examples,
            budgets,
            cfg["batch_size"],
            self.precision,
            options=generation.decoding_options(cfg),
            batch_tokens=cfg["batch_tokens"],
            starts=self.scenario.answer_starts(self.context),  # as the run evaluated it
        )
        return [text.strip() for text, _ in outputs]


def open_session(
    scenario: Scenario, run_dir: Path | None, data: Path | None, model_name: str | None
) -> Session:
    """Load the run's tuned model (--run) or a base model whose context is fitted on --data."""
    if run_dir is not None:
        report_path = run_dir / "report.json"
        if not report_path.exists():
            raise ScenarioPackError(f"{report_path} not found: pass the folder that 'scenario run' printed.")
        report = json.loads(report_path.read_text(encoding="utf-8"))
        if report.get("kind") == "mix":
            raise ScenarioPackError(
                f"{run_dir} is a run-mix folder; --run takes a 'scenario run' folder. To try the mix "
                f"adapter, export it (scenario export {run_dir} --merged OUT), then use --data F "
                "--model OUT."
            )
        if report["scenario"]["name"] != scenario.name:
            raise ScenarioPackError(
                f"{run_dir} is a '{report['scenario']['name']}' run, not '{scenario.name}'."
            )
        config = report["config"]
        config["eval"] = {**config_mod.defaults()["eval"], **config["eval"]}  # runs saved before newer keys
        train = jsonl.read_saved(run_dir / "data" / "train.jsonl")
        context = scenario.build_context(train, config["scenario"], Path(report["data"]["train_file"]))
        model, tokenizer = _tuned(run_dir, config, report["training"]["method"])
        label = f"tuned model of {run_dir}"
    elif data is not None:
        from ..data.validation import prepare

        config = config_mod.resolve(scenario.defaults())
        if model_name:
            config["model"]["name"] = model_name
        prepared = prepare(scenario, config, data, None)
        context = prepared.context
        model, tokenizer = (
            models.load_model(config["model"]["name"]),
            models.load_tokenizer(config["model"]["name"]),
        )
        label = f"base model {config['model']['name']}"
    else:
        raise ScenarioPackError(
            "pass --run RUN_DIR (a tuned model) or --data F (the base model, for comparison)."
        )
    hw = hardware.detect()
    tokenizer.padding_side = "left"
    precision = hardware.choose_precision(config["model"]["precision"], hw)
    model = generation.inference_model(model.to(hw.device), precision)  # cast once, not per answer
    return Session(scenario, context, model, tokenizer, precision, config["eval"], label)


def _tuned(run_dir: Path, config: dict[str, Any], method: str) -> tuple[Any, Any]:
    from peft import PeftModel
    from transformers import AutoTokenizer

    adapter = run_dir / "adapter"
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    if method == "full":
        return models.load_model(str(adapter)), tokenizer
    model = PeftModel.from_pretrained(models.load_model(config["model"]["name"]), adapter)
    return (model.merge_and_unload() if method == "lora" else model), tokenizer
