"""The `scenario` command: wiring only. Parse, call core, map errors to messages and exit codes."""

from __future__ import annotations

import logging
import os

import click

from ..errors import ScenarioPackError
from ..runtime import hardware, interrupt
from .mix_command import run_mix_command
from .new_command import new_command
from .option_owners import redirect
from .prepare_commands import prepare_for
from .run_commands import run_for, sweep_for
from .run_dir_commands import eval_command, export_command, report_command
from .scenario_commands import ScenarioGroup, inspect_for, list_command, validate_for
from .try_commands import chat_command, generate_command


class ScenarioCLI(click.Group):
    """Maps the project's errors to one clear line and exit code 2; tracebacks only with --debug.

    A flag unknown to the command it was given to is looked up among all commands (option_owners).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise redirect(ctx, exc) from None

    def invoke(self, ctx: click.Context) -> None:
        try:
            return super().invoke(ctx)
        except click.NoSuchOption as exc:  # a sub-command's flags are parsed inside invoke
            raise redirect(ctx, exc) from None
        except ScenarioPackError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo(
                "interrupted. Re-run the same command with --resume to continue from the last checkpoint.",
                err=True,
            )
            ctx.exit(130)


@click.group(cls=ScenarioCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Fine-tune a small language model for one business scenario and measure whether it helped."""
    _quiet_libraries()
    interrupt.install()
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


cli.add_command(list_command)
cli.add_command(new_command)
cli.add_command(
    ScenarioGroup("run", run_for, help="Validate, evaluate base, fine-tune, evaluate tuned, report.")
)
cli.add_command(run_mix_command)
cli.add_command(
    ScenarioGroup(
        "sweep",
        sweep_for,
        help="Search training settings on the validation split, then run the best once on the test rows.",
    )
)
cli.add_command(
    ScenarioGroup("validate", validate_for, help="Check a data file against a scenario's schema.")
)
cli.add_command(
    ScenarioGroup("prepare", prepare_for, help="Import an export into rows, write and validate them.")
)
cli.add_command(
    ScenarioGroup("inspect", inspect_for, help="Data-quality findings for a data file, with severities.")
)
cli.add_command(eval_command)
cli.add_command(report_command)
cli.add_command(export_command)
cli.add_command(generate_command)
cli.add_command(chat_command)


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # library progress bars (weight loading, dataset mapping) are noise next to ours and the trainer's
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


def main() -> None:
    hardware.cap_onednn_cache()
    cli(prog_name="scenario")
