"""`scenario list`, and `validate` / `inspect`, whose sub-commands are the installed scenarios."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..errors import RegistryError
from ..plugins import registry
from ..plugins.scenario import Scenario
from .flags import (
    JSON,
    VALIDATE_FLAGS,
    data_params,
    json_summary,
    notify,
    progress_bar,
    resolve_config,
    scenario_options,
)

if TYPE_CHECKING:
    from ..data.dataset import Source
    from ..run_config import RunConfig


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


def validate_and_summarise(
    scenario: Scenario, config: RunConfig, data: Source, test: Source | None, quiet: bool
) -> dict[str, Any]:
    """The validation stage and its printed summary: `validate`, and `prepare` once it has written rows.

    Returns what it printed, for --json."""
    from ..data.validation import measure_tokens, prepare
    from ..runs.start import load_tokenizer

    with progress_bar(quiet) as bars:
        prepared = prepare(scenario, config, data, test, bars)
        stats = measure_tokens(prepared, load_tokenizer(config, notify(quiet)), bars)
    echo_read_as(prepared)
    click.echo(f"{data}: {len(prepared.train_set.rows)} rows valid for scenario '{scenario.name}'")
    click.echo(
        f"split: {len(prepared.train)} train, {len(prepared.val)} validation, {len(prepared.test)} test"
        f"{f' (test stratified by {scenario.label_field})' if prepared.stratified else ''}"
    )
    labels = {}
    if scenario.label_field:
        counts = Counter(r[scenario.label_field] for r in prepared.train_set.rows)
        click.echo(f"{scenario.label_field}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
        labels = {scenario.label_field: dict(counts.most_common())}
    t, max_length = stats["token_lengths"], config.data.max_length
    click.echo(
        f"tokens per example ({config.model.name}): min {t['min']}, median {t['median']}, "
        f"p95 {t['p95']}, max {t['max']}; {stats['truncated']} would be truncated at max_length {max_length}"
    )
    if prepared.redacted:
        click.echo("redacted: " + ", ".join(f"{n} {kind}" for kind, n in prepared.redacted.items()))
    for warning in prepared.warnings:
        click.echo(f"warning: {warning}")
    for note in prepared.notes:
        click.echo(f"note: {note}")
    return {
        "rows": {
            "valid": len(prepared.train_set.rows),
            "train": len(prepared.train),
            "validation": len(prepared.val),
            "test": len(prepared.test),
        },
        "stratified_by": scenario.label_field if prepared.stratified else None,
        "labels": labels,
        "tokens": {
            "model": config.model.name,
            **t,
            "max_length": max_length,
            "truncated": stats["truncated"],
        },
        "redacted": prepared.redacted,
        "warnings": prepared.warnings,
        "notes": prepared.notes,
    }


def echo_read_as(prepared: Any) -> None:
    """How each CSV was read, when not comma-separated UTF-8: a wrong guess shows before it matters."""
    for dataset in (prepared.train_set, prepared.test_set):
        if dataset is not None and dataset.read_as:
            click.echo(dataset.read_as)


def validate_for(scenario: Scenario) -> click.Command:
    def callback(**kwargs: Any) -> None:
        data, test = kwargs["data"], kwargs.get("test")
        with json_summary(kwargs["as_json"]) as summary:
            summary.update(_sources(scenario, data, test), valid=False)
            config = resolve_config(scenario, kwargs)
            summary.update(validate_and_summarise(scenario, config, data, test, kwargs["quiet"]))
            summary.update(valid=True, errors=[])

    params = data_params(lambda flag: flag in VALIDATE_FLAGS) + scenario_options(scenario) + [JSON]
    return click.Command(scenario.name, callback=callback, params=params, help=scenario.description)


def inspect_for(scenario: Scenario) -> click.Command:
    def callback(**kwargs: Any) -> None:
        data, test = kwargs["data"], kwargs.get("test")
        with json_summary(kwargs["as_json"]) as summary:
            summary.update(_sources(scenario, data, test))
            config = resolve_config(scenario, kwargs)
            summary.update(inspect_and_summarise(scenario, config, data, test, kwargs["quiet"]), errors=[])
            if summary["counts"]["error"]:
                raise SystemExit(1)

    params = data_params(lambda flag: flag in VALIDATE_FLAGS) + scenario_options(scenario) + [JSON]
    return click.Command(scenario.name, callback=callback, params=params, help=scenario.description)


def inspect_and_summarise(
    scenario: Scenario, config: RunConfig, data: Source, test: Source | None, quiet: bool
) -> dict[str, Any]:
    """The data-quality findings, printed with their fixes; returns what it printed, for --json."""
    from ..data.validation import measure_tokens, prepare
    from ..runs.start import load_tokenizer

    config = config.with_values(
        {"data.allow_leakage": True}
    )  # inspect reports leakage; it does not refuse it
    with progress_bar(quiet) as bars:
        prepared = prepare(scenario, config, data, test, bars)
        measure_tokens(prepared, load_tokenizer(config, notify(quiet)), bars)
    training = len(prepared.train) + len(prepared.val)
    click.echo(
        f"{data}: {training} training and {len(prepared.test)} test rows for scenario '{scenario.name}'"
    )
    for finding in prepared.findings:
        click.echo(f"[{finding.severity}] {finding.check}: {finding.message}")
        if finding.fix and finding.severity != "info":
            click.echo(f"    fix: {finding.fix}")
    counts = Counter(f.severity for f in prepared.findings)
    click.echo(f"{counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes")
    return {
        "rows": {"training": training, "test": len(prepared.test)},
        "counts": {severity: counts[severity] for severity in ("error", "warning", "info")},
        "findings": [finding.as_dict() for finding in prepared.findings],
    }


def _sources(scenario: Scenario, data: Source, test: Source | None) -> dict[str, Any]:
    """What a --json summary was about: the scenario and the data it was given."""
    return {"scenario": scenario.name, "data": str(data), "test": str(test) if test else None}
