"""`scenario run-mix NAME=FILE NAME=FILE ...`: one adapter for several scenarios, wiring only."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from .flags import COMMON_FLAGS, OVERWRITE, notify, overrides, progress_bar


def _params() -> list[click.Parameter]:
    params: list[click.Parameter] = [
        click.Argument(["pairs"], nargs=-1, metavar="NAME=FILE..."),
        click.Option(
            ["--weight", "weights"],
            multiple=True,
            metavar="NAME=W",
            help="repeat (W > 1) or subsample (W < 1) a scenario's training rows in the mix (default 1 each)",
        ),
        click.Option(
            ["--test", "tests"], multiple=True, metavar="NAME=FILE", help="held-out rows of one scenario"
        ),
        click.Option(
            ["--mix", "mix_file"],
            type=click.Path(path_type=Path, dir_okay=False),
            help="mix.yaml: scenarios.NAME.{data,test,weight,settings} plus run.yaml sections for all",
        ),
        click.Option(["--set", "set_items"], multiple=True, help="section.key=value (repeatable)"),
        click.Option(["--quiet", "-q"], is_flag=True, help="print only the result"),
        click.Option(["--resume"], is_flag=True, help="continue an interrupted mix in the same --output"),
        OVERWRITE,
    ]
    for flag, _, kind, text in COMMON_FLAGS:
        text = "run folder (default reports/mix/<run-id>)" if flag == "--output" else text
        params.append(click.Option([flag], type=kind, default=None, help=text))
    return params


def _run_mix(**kwargs: Any) -> None:
    from ..runs.mix import run_mix
    from ..runs.mix_plan import plan
    from ..runs.start import Request, start_run

    quiet = kwargs["quiet"]
    mix = plan(
        kwargs["pairs"],
        kwargs["tests"],
        kwargs["weights"],
        kwargs["mix_file"],
        lambda scenario: overrides(kwargs, scenario, kwargs["set_items"]),
    )
    requests = [Request(m.scenario, m.config, m.data, m.test) for m in mix.members]
    started = start_run(
        requests, mix.training_config, kwargs["resume"], kwargs["overwrite"], notify(quiet), mix=True
    )
    prepared, folder = started.prepared, started.folder
    mix = dataclasses.replace(mix, training_config=started.config)  # run.output: the claimed folder
    if not quiet:
        for name, part in prepared.items():
            click.echo(
                f"{name}: {len(part.train)} train / {len(part.val)} validation / {len(part.test)} test"
            )
        click.echo(f"writing to {folder.root}")
    try:
        with progress_bar(quiet) as bar:
            report = run_mix(
                mix, prepared, started.tokenizer, folder, bar, quiet, kwargs["resume"], started.timer
            )
    except KeyboardInterrupt:
        click.echo(
            f"\ninterrupted. Finished stages are kept in {folder.root}. To continue, run the same command "
            f"with --output {folder.root} --resume",
            err=True,
        )
        raise SystemExit(130) from None
    if not report:  # the non-main processes of a multi-process run
        return
    also = [folder.report_json.name, f"<scenario>/{folder.predictions.name}", f"{folder.tuned().name}/"]
    click.echo(f"\nreport: {folder.report_md}  (also {', '.join(also)})")
    for line in report.summary:
        click.echo(line)
    mixing = ", ".join(
        f"{name} {s.mixing.examples} (weight {s.mixing.weight:g})" for name, s in report.scenarios.items()
    )
    click.echo(f"mix training examples: {mixing}; time {report.timings['total']:.0f} s")


run_mix_command = click.Command(
    "run-mix",
    callback=_run_mix,
    params=_params(),
    help="Train ONE adapter on a weighted mix of several scenarios and compare it, per scenario and "
    "metric, with each scenario's single-task adapter and the base model. "
    "Example: scenario run-mix support=tickets.jsonl content=posts.jsonl --weight support=2",
)
