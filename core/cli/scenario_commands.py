"""`scenario list`, and `run` / `validate`, whose sub-commands are the installed scenarios.

Each scenario's own settings (its `scenario:` defaults) become flags of its sub-command, so
`scenario run support --docs DIR` works without core knowing what docs are.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import config as config_mod
from ..errors import ConfigError, RegistryError
from ..plugins import registry
from ..plugins.scenario import Scenario
from ..runs import run_folder

if TYPE_CHECKING:
    from ..reporting.results import RunResults

COMMON_FLAGS: list[tuple[str, str, type, str]] = [
    # (flag, config section.key, type, help)
    ("--model", "model.name", str, "default name, Hugging Face id, or local checkpoint path"),
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
    ("--max-length", "data.max_length", int, "max tokens per training example"),
    ("--limit", "data.limit", int, "use only the first N rows of --data"),
    ("--seed", "run.seed", int, "seed for split, training and bootstrap"),
    ("--output", "run.output", str, "run folder (default reports/<scenario>/<run-id>)"),
]
VALIDATE_FLAGS = {"--model", "--max-length", "--limit", "--seed"}


@click.command("list")
@click.option("--strict", is_flag=True, help="Exit non-zero when any installed scenario fails to load.")
def list_command(strict: bool) -> None:
    """List installed scenarios."""
    entries = registry.listing()
    if not entries:
        click.echo("no scenarios installed")
    for entry in entries:
        if entry.error:
            click.echo(f"{entry.name:<14} ERROR: {entry.error}")
        else:
            click.echo(f"{entry.name:<14} {entry.description}")
    if strict and any(e.error for e in entries):
        raise click.ClickException("some scenarios failed to load")


class ScenarioGroup(click.Group):
    """A group whose commands are the registered scenarios, built on demand."""

    def __init__(self, name: str, factory: Callable[[Scenario], click.Command], **kwargs: Any):
        super().__init__(name, **kwargs)
        self.factory = factory

    def list_commands(self, ctx: click.Context) -> list[str]:
        return registry.names()

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        try:
            return self.factory(registry.load(name))
        except RegistryError as exc:
            if ctx.resilient_parsing:
                return None
            raise click.UsageError(str(exc)) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """`run --help` lists scenarios from the registry's listing: click's own listing builds every
        command, so one broken plugin would turn the whole help into an error."""
        rows = [(e.name, f"ERROR: {e.error}" if e.error else e.description) for e in registry.listing()]
        if rows:
            with formatter.section("Scenarios"):
                formatter.write_dl(rows)


def _overrides(
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


def _common_params(include: Callable[[str], bool]) -> list[click.Parameter]:
    data: list[click.Parameter] = [
        click.Option(["--data"], type=click.Path(path_type=Path), required=True, help="training rows"),
        click.Option(
            ["--test"], type=click.Path(path_type=Path), help="held-out rows (default: split from --data)"
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


def resolve_config(scenario: Scenario, kwargs: dict[str, Any]) -> dict[str, Any]:
    return config_mod.resolve(
        scenario.defaults(),
        kwargs.get("config_file"),
        _overrides(kwargs, scenario, kwargs.get("set_items", ())),
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


def _load_tokenizer(config: dict[str, Any], quiet: bool) -> Any:
    from ..runtime.models import load_tokenizer, needs_conversion

    if needs_conversion(config["model"]["name"]) and not quiet:
        click.echo(
            "preparing the default model: converting its GGUF file to a local checkpoint (once, ~20 s)"
        )
    return load_tokenizer(config["model"]["name"])


def validate_and_summarise(
    scenario: Scenario, config: dict[str, Any], data: Path, test: Path | None, quiet: bool
) -> None:
    """The validation stage and its printed summary: `validate`, and `prepare` once it has written rows."""
    from ..data.validation import measure_tokens, prepare

    with progress_bar(quiet) as bars:
        prepared = prepare(scenario, config, data, test, bars)
        stats = measure_tokens(prepared, _load_tokenizer(config, quiet), bars)
    _echo_read_as(prepared)
    click.echo(f"{data}: {len(prepared.train_set.rows)} rows valid for scenario '{scenario.name}'")
    click.echo(
        f"split: {len(prepared.train)} train, {len(prepared.val)} validation, {len(prepared.test)} test"
        f"{f' (test stratified by {scenario.label_field})' if prepared.stratified else ''}"
    )
    if scenario.label_field:
        counts = Counter(r[scenario.label_field] for r in prepared.train_set.rows)
        click.echo(f"{scenario.label_field}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    t = stats["token_lengths"]
    click.echo(
        f"tokens per example ({config['model']['name']}): min {t['min']}, median {t['median']}, "
        f"p95 {t['p95']}, max {t['max']}; {stats['truncated']} would be truncated at max_length "
        f"{config['data']['max_length']}"
    )
    if prepared.redacted:
        click.echo("redacted: " + ", ".join(f"{n} {kind}" for kind, n in prepared.redacted.items()))
    for warning in prepared.warnings:
        click.echo(f"warning: {warning}")
    for note in prepared.notes:
        click.echo(f"note: {note}")


def _echo_read_as(prepared: Any) -> None:
    """How each CSV was read, when not comma-separated UTF-8: a wrong guess shows before it matters."""
    for dataset in (prepared.train_set, prepared.test_set):
        if dataset is not None and dataset.read_as:
            click.echo(dataset.read_as)


def validate_for(scenario: Scenario) -> click.Command:
    def callback(**kwargs: Any) -> None:
        config = resolve_config(scenario, kwargs)
        validate_and_summarise(scenario, config, kwargs["data"], kwargs.get("test"), kwargs["quiet"])

    params = _common_params(lambda flag: flag in VALIDATE_FLAGS) + scenario_options(scenario)
    return click.Command(scenario.name, callback=callback, params=params, help=scenario.description)


def inspect_for(scenario: Scenario) -> click.Command:
    def callback(**kwargs: Any) -> None:
        from ..data.validation import measure_tokens, prepare

        config = resolve_config(scenario, kwargs)
        config["data"]["allow_leakage"] = True  # inspect reports leakage; it does not refuse it
        with progress_bar(kwargs["quiet"]) as bars:
            prepared = prepare(scenario, config, kwargs["data"], kwargs.get("test"), bars)
            measure_tokens(prepared, _load_tokenizer(config, kwargs["quiet"]), bars)
        click.echo(
            f"{kwargs['data']}: {len(prepared.train) + len(prepared.val)} training and "
            f"{len(prepared.test)} test rows for scenario '{scenario.name}'"
        )
        for finding in prepared.findings:
            click.echo(f"[{finding.severity}] {finding.check}: {finding.message}")
            if finding.fix and finding.severity != "info":
                click.echo(f"    fix: {finding.fix}")
        counts = Counter(f.severity for f in prepared.findings)
        click.echo(f"{counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes")
        if counts["error"]:
            raise SystemExit(1)

    params = _common_params(lambda flag: flag in VALIDATE_FLAGS) + scenario_options(scenario)
    return click.Command(scenario.name, callback=callback, params=params, help=scenario.description)


OVERWRITE = click.Option(
    ["--overwrite"],
    is_flag=True,
    help="replace the earlier run in --output, or write beside files there (never over them)",
)
Execute = Callable[[Any, Any, Path, Any, dict[str, Any], Any], dict[str, Any]]


def _pipeline_command(scenario: Scenario, execute: Execute, extra: list[click.Parameter]) -> click.Command:
    """A command that validates, prepares the run folder, then hands over to `execute` (run or sweep)."""

    def callback(**kwargs: Any) -> None:
        from ..data.validation import measure_tokens, prepare
        from ..runs.run_folder import default_run_dir
        from ..runtime.environment import Timer

        quiet = kwargs["quiet"]
        timer = Timer()
        start = time.perf_counter()
        config = resolve_config(scenario, kwargs)
        if kwargs["resume"] and not config["run"]["output"]:
            raise ConfigError("--resume needs --output: the folder of the run to continue.")
        with progress_bar(quiet) as bars:
            prepared = prepare(scenario, config, kwargs["data"], kwargs.get("test"), bars)
            tokenizer = _load_tokenizer(config, quiet)
            measure_tokens(prepared, tokenizer, bars)
        timer.stage("validate", start)
        run_dir = Path(config["run"]["output"]) if config["run"]["output"] else default_run_dir(scenario.name)
        config["run"]["output"] = str(run_dir)
        run_folder.claim(run_dir, kwargs["resume"], kwargs["overwrite"])
        if not quiet:
            _echo_read_as(prepared)
            click.echo(
                f"{scenario.name}: {len(prepared.train)} train / {len(prepared.val)} validation / "
                f"{len(prepared.test)} test rows; writing to {run_dir}"
            )
            for note in prepared.notes:
                click.echo(f"note: {note}")
        try:
            with progress_bar(quiet) as bar:
                report = execute(prepared, tokenizer, run_dir, bar, kwargs, timer)
        except KeyboardInterrupt:
            click.echo(
                f"\ninterrupted. Finished stages and the last checkpoint are kept in {run_dir}. To continue, "
                f"run the same command with --output {run_dir} --resume",
                err=True,
            )
            raise SystemExit(130) from None
        if report:  # empty on the non-main processes of a multi-process run
            _print_summary(report, run_dir)

    params = (
        _common_params(lambda flag: True)
        + scenario_options(scenario)
        + [
            click.Option(
                ["--resume"], is_flag=True, help="continue an interrupted run in the same --output folder"
            ),
            OVERWRITE,
            click.Option(
                ["--baseline"],
                help="prompting baseline reported beside base and tuned: few-shot (the 3 nearest training "
                "rows as examples, the default), few-shot:K, or none",
            ),
            click.Option(
                ["--slice-by", "slice_by"],
                multiple=True,
                help="report every metric by this row field, base vs tuned (repeatable; default: "
                f"{', '.join(scenario.slice_fields) or 'none'})",
            ),
        ]
        + extra
    )
    return click.Command(scenario.name, callback=callback, params=params, help=scenario.description)


def run_for(scenario: Scenario) -> click.Command:
    def execute(prepared: Any, tokenizer: Any, run_dir: Path, bar: Any, kwargs: dict, timer: Any) -> dict:
        from ..runs.pipeline import run

        return run(
            prepared, tokenizer, run_dir, bar, quiet=kwargs["quiet"], resume=kwargs["resume"], timer=timer
        )

    extra = []
    if scenario.group_field:
        extra.append(
            click.Option(
                [f"--per-{scenario.group_field.replace('_', '-')}", "per_group"],
                is_flag=True,
                default=None,
                help=f"also train one adapter per {scenario.group_field} and compare it with the single "
                "adapter on the same held-out rows",
            )
        )
    return _pipeline_command(scenario, execute, extra)


def sweep_for(scenario: Scenario) -> click.Command:
    def execute(prepared: Any, tokenizer: Any, run_dir: Path, bar: Any, kwargs: dict, timer: Any) -> dict:
        from ..runs.sweep import run_sweep, search_space

        space = search_space(prepared.config, kwargs["params"])
        echo = (lambda _: None) if kwargs["quiet"] else click.echo
        return run_sweep(
            prepared,
            tokenizer,
            run_dir,
            space,
            kwargs["trials"],
            kwargs["minutes"],
            bar,
            echo,
            quiet=kwargs["quiet"],
            resume=kwargs["resume"],
            timer=timer,
        )

    extra = [
        click.Option(
            ["--trials"], type=click.IntRange(min=1), default=6, show_default=True, help="trial budget"
        ),
        click.Option(
            ["--minutes"], type=click.FloatRange(min=0, min_open=True), help="time budget for trials"
        ),
        click.Option(
            ["--param", "params"],
            multiple=True,
            help="search this config key too: section.key=a,b,c or section.key=LOW:HIGH (repeatable; "
            "default space: train.method lora,full; lr 0.3-3x the method's default; epochs 1-3; lora_r 4-32)",
        ),
    ]
    return _pipeline_command(scenario, execute, extra)


def _print_summary(report: RunResults, run_dir: Path) -> None:
    from ..evaluation.scoring import number

    click.echo(
        f"\nreport: {run_dir / 'report.html'}  (also report.md, report.json, predictions.jsonl, adapter/)"
    )

    baseline = report.baseline
    for name, e in report.metrics.items():
        star = "*" if e.primary else " "
        prompted = f"  few-shot {number(baseline.metrics[name].few_shot):>8}" if baseline else ""
        click.echo(
            f"{star} {name:<22} base {number(e.base):>8}{prompted}  tuned {number(e.tuned):>8}  "
            f"({e.direction} is better) {e.verdict.label(e.few_rows)}"
        )
    if baseline:
        click.echo(baseline.sentence)
    click.echo(f"time {report.timings['total']:.0f} s, peak memory {report.peak_memory_gib:.2f} GiB")
