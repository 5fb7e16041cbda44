"""Experiment trackers (`--report-to`): the trainer logs its losses there, and at the end of a run
the scenario's own metrics follow (base, few-shot and tuned, the deltas with their intervals, the
verdicts), so a team's dashboard shows what the report says, not only how the loss fell."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ConfigError
from .results import RunResults


def check_installed(tracker: str) -> None:
    """Before any work: a tracker whose package is missing would fail only after training. Each
    tracker's package has the tracker's name."""
    if tracker != "none" and importlib.util.find_spec(tracker) is None:
        extra = " (or pip install 'scenario-pack[tracking]')" if tracker == "tensorboard" else ""
        raise ConfigError(
            f"--report-to {tracker}: the {tracker} package is not installed. Install it with "
            f"pip install {tracker}{extra}, or use --report-to none."
        )


def metric_values(results: RunResults) -> dict[str, float]:
    """Every number of the metrics table, keyed scenario/<metric>/<column>."""
    values: dict[str, float | None] = {}
    for name, metric in results.metrics.items():
        low, high = metric.ci95
        values |= {
            f"scenario/{name}/base": metric.base,
            f"scenario/{name}/tuned": metric.tuned,
            f"scenario/{name}/tuned_minus_base": metric.delta,
            f"scenario/{name}/tuned_minus_base_ci95_low": low,
            f"scenario/{name}/tuned_minus_base_ci95_high": high,
        }
    if results.baseline:
        for name, metric in results.baseline.metrics.items():
            low, high = metric.ci95
            values |= {
                f"scenario/{name}/few_shot": metric.few_shot,
                f"scenario/{name}/tuned_minus_few_shot": metric.delta,
                f"scenario/{name}/tuned_minus_few_shot_ci95_low": low,
                f"scenario/{name}/tuned_minus_few_shot_ci95_high": high,
            }
    return {key: float(value) for key, value in values.items() if value is not None}


def verdicts(results: RunResults) -> str:
    """The verdict column as a Markdown table (trackers show text beside the scalars)."""
    lines = ["| metric | tuned vs base | tuned vs few-shot |", "|---|---|---|"]
    for name, metric in results.metrics.items():
        prompted = results.baseline.metrics.get(name) if results.baseline else None
        versus = prompted.verdict.label(prompted.few_rows) if prompted else "-"
        lines.append(f"| {name} | {metric.verdict.label(metric.few_rows)} | {versus} |")
    return "\n".join(lines)


def log_results(tracker: str, log_dir: Path, results: RunResults) -> None:
    """Send the scenario's metrics to the tracker the losses went to, at the run's last training step."""
    values, table = metric_values(results), verdicts(results)
    step = results.training.steps or 0
    if tracker == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(log_dir=str(log_dir)) as writer:
            for key, value in values.items():
                writer.add_scalar(key, value, step)
            writer.add_text("scenario/verdicts", table, step)
    elif tracker == "wandb":
        import wandb

        run = wandb.run or wandb.init(name=results.run_id, job_type="scenario-pack")  # the trainer's, if open
        run.log(values, step=step)
        run.summary.update(values | {"scenario/verdicts": table})
        run.finish()
    elif tracker == "mlflow":
        import mlflow

        trained = mlflow.last_active_run()  # the trainer's callback ends the run it logged the losses to
        with mlflow.start_run(run_id=trained.info.run_id if trained else None, run_name=results.run_id):
            mlflow.log_metrics(values, step=step)
            mlflow.log_text(table, "scenario_verdicts.md")
