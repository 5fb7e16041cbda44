"""`scenario new NAME`: write a new scenario package to start from (see core/plugins/scaffolding.py)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "target",
    type=click.Path(path_type=Path),
    help="folder to create the package in (default: ./NAME); must be new or empty",
)
def new_command(name: str, target: Path | None) -> None:
    """Create an installable scenario package NAME: schema, template, metric, sample data, tests."""
    from ..plugins.scaffolding import write_skeleton

    target = target or Path(name)
    written = write_skeleton(name, target)
    click.echo(f"created scenario '{name}' in {target} ({len(written)} files). Next:")
    for step in (
        f"pip install -e {target}",
        f"scenario validate {name} --data {target / 'data' / 'sample.jsonl'}",
        f"(cd {target} && pytest)",
        f"scenario run {name} --data {target / 'data' / 'sample.jsonl'}",
    ):
        click.echo(f"  {step}")
    click.echo("then make it your own task: see docs/writing-a-scenario.md in scenario-pack.")
