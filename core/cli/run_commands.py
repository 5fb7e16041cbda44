"""`scenario run` and `scenario sweep`: start a run (validate, claim the folder), hand it to the
recipe, print the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from ..plugins.scenario import Scenario
from ..runs.run_folder import RunFolder
from .flags import (
    JSON,
    OVERWRITE,
    data_params,
    json_summary,
    notify,
    progress_bar,
    resolve_config,
    scenario_options,
)
from .scenario_commands import echo_read_as

if TYPE_CHECKING:
    from ..data.similarity import Progress
    from ..reporting.gates import Gate
    from ..reporting.results import RunResults
    from ..runs.start import Started

Execute = Callable[["Started", "Progress", dict[str, Any]], "RunResults | None"]


def _run_command(scenario: Scenario, execute: Execute, extra: list[click.Parameter]) -> click.Command:
    """A command that starts a run, then hands it over to `execute` (run or sweep)."""
    from ..reporting import gates

    def callback(**kwargs: Any) -> None:
        from ..runs.start import Request, start_run

        quiet, requirements = kwargs["quiet"], kwargs["requirements"]
        with json_summary(kwargs["as_json"]) as summary:
            config = resolve_config(scenario, kwargs)
            gates.check_possible(requirements, config)
            request = Request(scenario, config, kwargs["data"], kwargs.get("test"))
            with progress_bar(quiet) as bars:
                started = start_run(
                    [request], config, kwargs["resume"], kwargs["overwrite"], notify(quiet), bars
                )
            prepared, folder = started.prepared[scenario.name], started.folder
            summary["run_folder"] = str(folder.root)
            if not quiet:
                echo_read_as(prepared)
                click.echo(
                    f"{scenario.name}: {len(prepared.train)} train / {len(prepared.val)} validation / "
                    f"{len(prepared.test)} test rows; writing to {folder.root}"
                )
                for note in prepared.notes:
                    click.echo(f"note: {note}")
            try:
                with progress_bar(quiet) as bar:
                    report = execute(started, bar, kwargs)
            except KeyboardInterrupt:
                click.echo(
                    f"\ninterrupted. Finished stages and the last checkpoint are kept in {folder.root}. To "
                    f"continue, run the same command with --output {folder.root} --resume",
                    err=True,
                )
                raise SystemExit(130) from None
            if report:  # empty on the non-main processes of a multi-process run
                _print_summary(report, folder)
                decided = _decide_gates(report, requirements)
                summary.update(_results_summary(report, folder, decided))
                if not all(gate.passed for gate in decided):
                    raise SystemExit(gates.EXIT_CODE)

    params = (
        data_params(lambda flag: True)
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
                ["--require", "requirements"],
                type=click.Choice(gates.REQUIREMENTS),
                multiple=True,
                help=f"for CI: after writing the report, exit {gates.EXIT_CODE} unless the primary "
                "metric improved (improved) or the tuned model beats the few-shot baseline on it "
                "(beats-baseline); repeatable",
            ),
            JSON,
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
    def execute(started: Started, bar: Progress, kwargs: dict[str, Any]) -> RunResults | None:
        from ..runs.run import run

        prepared = started.prepared[scenario.name]
        quiet, resume = kwargs["quiet"], kwargs["resume"]
        tokenizer, folder, timer = started.tokenizer, started.folder, started.timer
        return run(prepared, tokenizer, folder, bar, quiet, resume, timer, notify(quiet))

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
    return _run_command(scenario, execute, extra)


def sweep_for(scenario: Scenario) -> click.Command:
    def execute(started: Started, bar: Progress, kwargs: dict[str, Any]) -> RunResults | None:
        from ..runs.sweep import run_sweep, search_space

        prepared = started.prepared[scenario.name]
        space = search_space(prepared.config, kwargs["params"])
        return run_sweep(
            prepared,
            started.tokenizer,
            started.folder,
            space,
            kwargs["trials"],
            kwargs["minutes"],
            bar,
            notify(kwargs["quiet"]),
            quiet=kwargs["quiet"],
            resume=kwargs["resume"],
            timer=started.timer,
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
    return _run_command(scenario, execute, extra)


def _print_summary(report: RunResults, folder: RunFolder) -> None:
    from ..evaluation.scoring import number

    also = [
        folder.report_md.name,
        folder.report_json.name,
        folder.predictions.name,
        f"{folder.tuned().name}/",
    ]
    click.echo(f"\nreport: {folder.report_html}  (also {', '.join(also)})")

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


def _decide_gates(report: RunResults, requirements: tuple[str, ...]) -> list[Gate]:
    """Each --require, decided and printed: a failed one as one line on stderr, with its numbers."""
    from ..reporting import gates

    decided = gates.decide(report, requirements)
    for gate in decided:
        if gate.passed:
            click.echo(f"--require {gate.requirement}: passed ({gate.detail})")
        else:
            click.echo(f"gate failed: --require {gate.requirement}: {gate.detail}", err=True)
    return decided


def _results_summary(report: RunResults, folder: RunFolder, decided: list[Gate]) -> dict[str, Any]:
    """--json's summary of a finished run: each metric base / few-shot / tuned with its interval and
    verdict (and against the few-shot baseline), and the --require gates."""
    results = report.to_json()
    baseline = results["baseline"]
    against = baseline["metrics"] if baseline else {}
    return {
        "report": str(folder.report_json),
        "primary_metric": report.primary_metric,
        "metrics": {
            name: {**entry, "vs_few_shot": against.get(name)} for name, entry in results["metrics"].items()
        },
        "baseline": {k: v for k, v in baseline.items() if k != "metrics"} if baseline else None,
        "gates": [asdict(gate) for gate in decided],
        "passed": all(gate.passed for gate in decided),
    }
