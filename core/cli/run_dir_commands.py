"""`scenario eval` and `scenario report`: work on a finished run folder, no model needed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import ScenarioPackError
from ..runs.run_folder import RunFolder

if TYPE_CHECKING:
    from ..reporting.mix_results import MixResults
    from ..reporting.results import RunResults

RUN_DIR = click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))


def _read_report(run_dir: Path) -> RunResults | MixResults:
    from ..reporting import results

    path = RunFolder(run_dir).report_json
    if not path.exists():
        raise ScenarioPackError(
            f"{path} not found: '{run_dir}' is not a finished run folder. "
            "Pass the folder that 'scenario run' printed."
        )
    return results.read(path)


@click.command("eval")
@RUN_DIR
def eval_command(run_dir: Path) -> None:
    """Re-score a run's predictions.jsonl (no generation) and re-render its reports."""
    from ..reporting.build import rescore
    from ..reporting.mix_results import MixResults

    old = _read_report(run_dir)
    if isinstance(old, MixResults):
        raise ScenarioPackError(
            f"{run_dir} is a run-mix folder: re-scoring a mix is not supported. "
            f"'scenario report {run_dir}' re-renders its report; 'scenario run-mix' re-runs it."
        )
    report = rescore(run_dir, old)
    click.echo(f"re-scored {report.data.rows.test} rows; report: {RunFolder(run_dir).report_html}")
    primary = report.primary
    verdict = primary.verdict.label(primary.few_rows)
    click.echo(f"{report.primary_metric}: base {primary.base} tuned {primary.tuned} ({verdict})")


@click.command("report")
@RUN_DIR
def report_command(run_dir: Path) -> None:
    """Re-render report.md and report.html from report.json and predictions.jsonl."""
    from ..reporting import documents

    _read_report(run_dir)
    paths = documents.render(run_dir)
    click.echo("wrote " + ", ".join(str(p) for p in paths.values()))


@click.command("export")
@RUN_DIR
@click.option(
    "--merged",
    "merged",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="folder for a merged full checkpoint (safetensors + tokenizer + chat template)",
)
def export_command(run_dir: Path, merged: Path) -> None:
    """Merge a run's adapter into its base model, loadable with AutoModelForCausalLM.from_pretrained."""
    from ..runs.export import export_merged

    _read_report(run_dir)
    click.echo(f"wrote {export_merged(RunFolder(run_dir), merged)}")
