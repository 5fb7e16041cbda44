"""`scenario eval` and `scenario report`: work on a finished run folder, no model needed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import ScenarioPackError
from ..runs.gguf_export import TYPES as GGUF_TYPES
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
    """Re-render report.md, report.html and the model card from report.json and predictions.jsonl."""
    from ..reporting import documents

    _read_report(run_dir)
    paths = documents.render(run_dir)
    click.echo("wrote " + ", ".join(str(p) for p in paths.values()))


@click.command("export")
@RUN_DIR
@click.option(
    "--merged",
    type=click.Path(path_type=Path, file_okay=False),
    help="folder for a merged full checkpoint (safetensors, tokenizer, chat template, model card)",
)
@click.option(
    "--gguf",
    type=click.Path(path_type=Path, dir_okay=False),
    help="GGUF file for llama.cpp and Ollama (Llama-family models); an Ollama Modelfile goes beside it",
)
@click.option(
    "--type",
    "gguf_type",
    type=click.Choice(GGUF_TYPES),
    help="weights of the --gguf file (default f16)",
)
@click.option(
    "--push-to-hub",
    "repo_id",
    metavar="REPO_ID",
    help="push the adapter (or, with --merged, the merged model) with its model card to this Hub repository",
)
@click.option("--private", is_flag=True, help="create the --push-to-hub repository as private")
def export_command(
    run_dir: Path,
    merged: Path | None,
    gguf: Path | None,
    gguf_type: str | None,
    repo_id: str | None,
    private: bool,
) -> None:
    """Export a run's tuned model: merged checkpoint, GGUF for llama.cpp / Ollama, or the Hugging Face Hub."""
    from ..runs import export, publish

    if not (merged or gguf or repo_id):
        raise ScenarioPackError(
            "nothing to export: pass --merged OUT, --gguf OUT.gguf or --push-to-hub REPO_ID (or several)."
        )
    if private and not repo_id:
        raise ScenarioPackError("--private applies to --push-to-hub REPO_ID: add it, or drop --private.")
    if gguf_type and not gguf:
        raise ScenarioPackError(f"--type applies to --gguf OUT.gguf: add it, or drop --type {gguf_type}.")
    run = RunFolder(run_dir)
    report = export.finished(run)
    hub = publish.connect(repo_id) if repo_id else None  # before any work: token and network
    if merged or gguf:
        done = export.export(run, report, export.Targets(merged, gguf, gguf_type or "f16"))
        for note in done.notes:
            click.echo(f"note: {note}", err=True)
        click.echo("wrote " + ", ".join(str(p) for p in done.written))
    if hub and repo_id:
        url = publish.push(hub, run, report, repo_id, private, merged)
        click.echo(f"pushed {merged or run.tuned()} to {url} as {hub.user}")
