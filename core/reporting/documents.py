"""Human reports, rendered from report.json and predictions.jsonl alone.

Because reports are renderings of files, a layout change never needs a re-run:
`scenario report RUN_DIR` re-renders them.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from .. import atomic
from ..evaluation.scoring import examples_by_gain, read_predictions
from ..runs.run_folder import RunFolder
from . import model_card, results
from .mix_results import MixResults
from .templating import environment


def plot_losses(curves: dict[str, list[list[float]]]) -> bytes | None:
    """PNG of training and validation loss by step (None when there is nothing to plot)."""
    if not curves["train"]:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=110)
    steps, losses = zip(*curves["train"], strict=True)
    ax.plot(steps, losses, label="training loss", color="#4c72b0", linewidth=1.2)
    if curves["validation"]:
        vsteps, vlosses = zip(*curves["validation"], strict=True)
        ax.plot(vsteps, vlosses, "o-", label="validation loss", color="#dd8452")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (completion tokens)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def render(run_dir: Path) -> dict[str, Path]:
    """Write the human renderings from the run folder's files alone: report.md, report.html and
    loss.png for a run, report.md for a run-mix, and the model card in the tuned model's folder."""
    folder = RunFolder(run_dir)
    report = results.read(folder.report_json)
    paths = _render_mix(folder, report) if isinstance(report, MixResults) else _render_run(folder, report)
    if folder.tuned().is_dir():  # a kept folder without weights has no model to describe
        paths["card"] = model_card.write(report, folder.card())
    return paths


def _render_mix(folder: RunFolder, report: MixResults) -> dict[str, Path]:
    atomic.write_text(folder.report_md, environment().get_template("mix.md.jinja").render(r=report))
    return {"md": folder.report_md}


def _render_run(folder: RunFolder, report: results.RunResults) -> dict[str, Path]:
    records = read_predictions(folder.predictions)
    key = report.example_score
    examples = examples_by_gain(records, key, report.config.eval.examples) if key else {}
    png = plot_losses(report.training.loss_curves or {"train": [], "validation": []})
    context = {
        "r": report,
        "examples": examples,
        "example_score": key,
        "loss_png": base64.b64encode(png).decode() if png else None,
    }
    env = environment()
    paths = {"md": folder.report_md, "html": folder.report_html}
    atomic.write_text(paths["md"], env.get_template("report.md.jinja").render(**context))
    atomic.write_text(paths["html"], env.get_template("report.html.jinja").render(**context))
    if png:
        paths["png"] = folder.loss_png
        atomic.write_bytes(paths["png"], png)
    return paths
