"""The flags `run`, `sweep`, `validate`, `inspect`, `prepare` and `run-mix` share, and how they
become a config layer; progress bars for the stages that grow with the rows; --json output.

Each scenario's own settings (its `scenario:` defaults) become flags of its sub-command, so
`scenario run support --docs DIR` works without core knowing what docs are.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import config as config_mod
from ..data import hub
from ..errors import ConfigError, DataError, ScenarioPackError
from ..plugins.scenario import Scenario

if TYPE_CHECKING:
    from ..run_config import RunConfig

COMMON_FLAGS: list[tuple[str, str, type, str]] = [
    # (flag, config section.key, type, help)
    ("--model", "model.name", str, "default name, Hugging Face id, or local checkpoint path"),
    (
        "--chat-template",
        "model.chat_template",
        click.Path(dir_okay=False),
        "Jinja chat template file for a base model without one (saved with the adapter)",
    ),
    ("--precision", "model.precision", click.Choice(["auto", "fp32", "bf16", "fp16"]), "compute precision"),
    ("--method", "train.method", click.Choice(["lora", "full", "prompt-tuning"]), "fine-tuning method"),
    ("--epochs", "train.epochs", float, "passes over the training rows"),
    ("--max-steps", "train.max_steps", int, "stop after N optimizer steps"),
    ("--lr", "train.lr", float, "peak learning rate"),
    ("--batch-size", "train.batch_size", int, "examples per forward pass (see --grad-accum)"),
    (
        "--grad-accum",
        "train.grad_accum",
        int,
        "forward passes per optimizer step (each of --batch-size examples)",
    ),
    ("--lora-r", "train.lora_r", int, "LoRA rank"),
    (
        "--report-to",
        "train.report_to",
        click.Choice(["none", "tensorboard", "wandb", "mlflow"]),
        "experiment tracker for the losses and, at the end, the scenario's metrics (default none)",
    ),
    ("--max-length", "data.max_length", int, "max tokens per training example"),
    ("--limit", "data.limit", int, "use only the first N rows of --data"),
    ("--seed", "run.seed", int, "seed for split, training and bootstrap"),
    ("--output", "run.output", str, "run folder (default reports/<scenario>/<run-id>)"),
]
VALIDATE_FLAGS = {"--model", "--chat-template", "--max-length", "--limit", "--seed"}


def overrides(
    flags: dict[str, Any], scenario: Scenario, set_items: tuple[str, ...]
) -> list[tuple[str, dict]]:
    layer: dict[str, dict[str, Any]] = {}
    for flag, dotted, _, _ in COMMON_FLAGS:
        value = flags.get(flag.lstrip("-").replace("-", "_"))
        if value is not None:
            section, key = dotted.split(".")
            if key in ("epochs",) and float(value).is_integer():
                value = int(value)
            layer.setdefault(section, {})[key] = value
    for key in scenario.defaults().get("scenario", {}):
        value = flags.get(f"scenario_{key}")
        if value is not None:
            layer.setdefault("scenario", {})[key] = value
    if flags.get("per_group"):
        layer.setdefault("train", {})["per_group"] = True
    if flags.get("slice_by"):
        layer.setdefault("eval", {})["slice_by"] = list(flags["slice_by"])
    if flags.get("allow_leakage"):
        layer.setdefault("data", {})["allow_leakage"] = True
    if flags.get("baseline"):
        layer.setdefault("eval", {})["baseline"] = flags["baseline"]
    if flags.get("redact") is not None:
        layer.setdefault("data", {})["redact"] = flags["redact"]
    if flags.get("maps"):
        layer.setdefault("data", {})["map"] = list(flags["maps"])
    return [("command line", layer), ("--set", config_mod.parse_set(set_items))]


def scenario_options(scenario: Scenario) -> list[click.Option]:
    options = []
    for key, default in scenario.defaults().get("scenario", {}).items():
        flag, help_text = (
            f"--{key.replace('_', '-')}",
            scenario.option_help.get(key, f"scenario setting '{key}'"),
        )
        if isinstance(default, bool):  # a switch: `--allow-unconfined`, `--no-allow-unconfined`
            names = [f"{flag}/--no-{flag[2:]}", f"scenario_{key}"]
            options.append(click.Option(names, default=None, help=help_text))
            continue
        kind = type(default) if default is not None and not isinstance(default, list | dict) else str
        options.append(click.Option([flag, f"scenario_{key}"], type=kind, default=None, help=help_text))
    return options


class DataSource(click.ParamType):
    """A rows file, or a Hub dataset as hf:ORG/NAME[:CONFIG][@SPLIT] (a wrong hf: name fails here)."""

    name = "FILE|hf:ORG/NAME"

    def __init__(self, default_split: str):
        self.default_split = default_split

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Path | hub.HubData):
            return value
        try:
            return hub.parse(value, self.default_split) or Path(value)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        """Complete file names, as click.Path did before hf: names."""
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="file")]


def data_params(include: Callable[[str], bool]) -> list[click.Parameter]:
    data: list[click.Parameter] = [
        click.Option(
            ["--data"],
            type=DataSource("train"),
            required=True,
            help="training rows: a .jsonl, .csv or .parquet file, or hf:ORG/NAME[:CONFIG][@SPLIT]",
        ),
        click.Option(
            ["--test"],
            type=DataSource("test"),
            help="held-out rows, a file or hf:ORG/NAME[:CONFIG][@SPLIT] (default: split from --data)",
        ),
        click.Option(
            ["--map", "maps"],
            multiple=True,
            help="field=column: read a Hub dataset's column as this field (repeatable)",
        ),
    ]
    return data + config_params(include)


def config_params(include: Callable[[str], bool]) -> list[click.Parameter]:
    """Flags that shape the resolved config (and so validation), without the data files."""
    params: list[click.Parameter] = [
        click.Option(
            ["--config", "config_file"], type=click.Path(path_type=Path), help="run.yaml with overrides"
        ),
        click.Option(["--set", "set_items"], multiple=True, help="section.key=value (repeatable)"),
        click.Option(["--quiet", "-q"], is_flag=True, help="print only the result"),
        click.Option(
            ["--allow-leakage"],
            is_flag=True,
            default=None,
            help="measure even when test rows (near-)duplicate training rows (reported, not refused)",
        ),
        click.Option(
            ["--redact/--no-redact"],
            default=None,
            help="replace emails, phones, card numbers and similar identifiers in free text (default on)",
        ),
    ]
    for flag, _, kind, text in COMMON_FLAGS:
        if include(flag):
            params.append(click.Option([flag], type=kind, default=None, help=text))
    return params


def resolve_config(scenario: Scenario, kwargs: dict[str, Any]) -> RunConfig:
    return config_mod.resolve(
        scenario.defaults(),
        kwargs.get("config_file"),
        overrides(kwargs, scenario, kwargs.get("set_items", ())),
    )


@contextlib.contextmanager
def progress_bar(quiet: bool) -> Iterator[Callable[[str, int], Any]]:
    from tqdm.auto import tqdm

    @contextlib.contextmanager
    def make(description: str, total: int) -> Iterator[Any]:
        bar = tqdm(total=total, desc=description, disable=quiet, unit="row", leave=False)
        try:
            yield bar
        finally:
            bar.close()

    yield make


OVERWRITE = click.Option(
    ["--overwrite"],
    is_flag=True,
    help="replace the earlier run in --output, or write beside files there (never over them)",
)


def notify(quiet: bool) -> Callable[[str], None]:
    """Where a stage's word to a waiting user goes: the terminal, or nowhere with --quiet."""
    return (lambda _: None) if quiet else click.echo


JSON = click.Option(
    ["--json", "as_json"],
    is_flag=True,
    help="print one JSON summary on stdout (for CI and scripts); all other output goes to stderr",
)


@contextlib.contextmanager
def json_summary(enabled: bool) -> Iterator[dict[str, Any]]:
    """With --json, the command fills the dict yielded here, printed as one JSON object on stdout,
    while everything else it prints (ours, the trainer's logs, libraries') goes to stderr.

    A failure the user can fix prints one too, with its errors (file, line, field) under "errors",
    before the CLI's one-line message on stderr; so does a command's own exit code (a failed gate).
    """
    summary: dict[str, Any] = {}
    if not enabled:
        yield summary
        return
    stdout = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield summary
    except ScenarioPackError as exc:
        issues = [asdict(issue) for issue in exc.issues] if isinstance(exc, DataError) else []
        summary["errors"] = issues or [
            dict.fromkeys(("file", "line", "field", "fix")) | {"message": str(exc)}
        ]
        summary["error_count"] = exc.total if isinstance(exc, DataError) else 1
        _print_json(summary, stdout)
        raise
    except SystemExit:
        _print_json(summary, stdout)
        raise
    _print_json(summary, stdout)


def _print_json(summary: dict[str, Any], stdout: Any) -> None:
    click.echo(json.dumps(summary, ensure_ascii=False, default=str), file=stdout)
