"""What a training log says about its losses: the curves the report plots, and overfitting."""

from __future__ import annotations

from typing import Any


def loss_curves(log_history: list[dict[str, Any]]) -> dict[str, list[list[float]]]:
    train = [[e["step"], e["loss"]] for e in log_history if "loss" in e and "step" in e]
    val = [[e["step"], e["eval_loss"]] for e in log_history if "eval_loss" in e and "step" in e]
    return {"train": train, "validation": val}


def overfitting(log_history: list[dict[str, Any]], tolerance: float = 0.02) -> str | None:
    """A warning in words when validation loss rose (by more than `tolerance`, relative) from its
    lowest point while training loss kept falling over the same steps; None otherwise."""
    curves = loss_curves(log_history)
    val, train = curves["validation"], curves["train"]
    if len(val) < 2 or not train:
        return None
    best_step, best = min(val, key=lambda p: p[1])
    last_step, last = val[-1]
    if last <= best * (1 + tolerance):
        return None

    def mean_near(step: int) -> float:  # training loss around a step: the 5 logged steps up to it
        window = [loss for s, loss in train if s <= step][-5:]
        return sum(window) / len(window)

    if mean_near(last_step) >= mean_near(best_step):
        return None
    return (
        f"possible overfitting: validation loss rose from {best:.3f} (step {best_step}) to {last:.3f} "
        f"(step {last_step}) while training loss kept falling. The adapter saved is the one from step "
        f"{best_step} (lowest validation loss); consider fewer epochs, a lower --lr or more rows."
    )
