"""`scenario generate` and `scenario chat`: try a tuned (or base) model on new inputs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from ..plugins import registry
from ..runs.run_folder import RunFolder

SOURCE_OPTIONS = [
    click.argument("name"),
    click.option(
        "--run", "run_dir", type=click.Path(path_type=Path, file_okay=False), help="a finished run folder"
    ),
    click.option(
        "--data",
        type=click.Path(path_type=Path),
        help="without --run: answer with the base model, the scenario's context fitted on these rows",
    ),
    click.option("--model", "model_name", help="base model for --data (default: the scenario's default)"),
    click.option("--field", "fields", multiple=True, help="another input field, key=value (repeatable)"),
]


def _with_source(command: Any) -> Any:
    for option in reversed(SOURCE_OPTIONS):
        command = option(command)
    return command


def _session(name: str, run_dir: Path | None, data: Path | None, model_name: str | None) -> Any:
    from ..runs.interactive import open_session

    run = RunFolder(run_dir) if run_dir is not None else None
    return open_session(registry.load(name), run, data, model_name)


def _fields(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--field {item!r}: expected key=value, e.g. --field platform=x")
        out[key.strip()] = value.strip()
    return out


@click.command("generate")
@_with_source
@click.argument("texts", nargs=-1)
def generate_command(
    name: str, run_dir: Path | None, data: Path | None, model_name: str | None, fields: tuple, texts: tuple
) -> None:
    """Answer inputs (arguments, or one per line on stdin) with the scenario's template.

    The text fills the scenario's input field (support: the ticket; content: the brief); other
    fields come from --field, e.g. `scenario generate content --run R --field type=social
    --field platform=x "Cuttings swap this Sunday"`.
    """
    values = _fields(fields)
    inputs = list(texts) or [line.strip() for line in sys.stdin if line.strip()]
    if not inputs:
        raise ConfigError("nothing to answer: give the input as an argument or on stdin.")
    session = _session(name, run_dir, data, model_name)
    rows = [session.row(text, values) for text in inputs]
    for text, answer in zip(inputs, session.answer(rows), strict=True):
        if len(inputs) > 1:
            click.echo(f"> {text}")
        click.echo(answer + ("\n" if len(inputs) > 1 else ""))


@click.command("chat")
@_with_source
def chat_command(
    name: str, run_dir: Path | None, data: Path | None, model_name: str | None, fields: tuple
) -> None:
    """An interactive loop: type an input, read the answer; an empty line or Ctrl-D ends it."""
    values = _fields(fields)
    session = _session(name, run_dir, data, model_name)
    scenario = session.scenario
    click.echo(f"{scenario.name} · {session.label} · type a {scenario.input_field}; empty line to stop")
    while True:
        try:
            text = click.prompt(scenario.input_field, default="", show_default=False, prompt_suffix="> ")
        except (EOFError, click.Abort):
            break
        if not text.strip():
            break
        click.echo(session.answer([session.row(text.strip(), values)])[0] + "\n")
