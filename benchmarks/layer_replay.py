"""Replaying the frozen lower layers: the same fine-tune with and without, side by side.

    python benchmarks/layer_replay.py [--rows 64] [--epochs 2] [--precision auto|bf16|fp32]

Support's default settings (LoRA on the top 20 of 30 layers) for `--epochs` passes over the first
`--rows` training rows of the support sample, with its 36 validation rows evaluated four times, as
`scenario run` trains (core/training/trainer.py), once with `train.replay_gib: 0` (every pass computes
every layer) and once with the default (core/training/layer_replay.py). Each side runs in its own
process. Printed: seconds, tokens/s, batches that skipped the frozen layers, peak memory, and the
training and validation losses, which should agree (the replayed values are the computed ones).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import default_model, machine, run_side, support_examples, table  # noqa: E402

SIDES = {"computed": 0.0, "replayed": 1.0}


def measure_side(side: str, rows: int, epochs: int, precision: str) -> dict[str, Any]:
    from scenario_pack.core.runtime import hardware
    from scenario_pack.core.runtime.environment import peak_memory_gib
    from scenario_pack.core.training import trainer

    hardware.cap_onednn_cache()  # as the `scenario` command does
    run_config, splits = support_examples()
    run_config = run_config.with_values({"train.epochs": epochs, "train.replay_gib": SIDES[side]})
    tokenizer, model, source = default_model()
    with tempfile.TemporaryDirectory() as out:
        train, val = splits["train"][:rows], splits["val"]
        _, result = trainer.train(
            model, tokenizer, train, val, run_config, source, Path(out), precision, quiet=True
        )
    return {
        "side": side,
        "seconds": result.seconds,
        "tokens": result.train_tokens,
        "replayed": result.replayed_batches,
        "peak_gib": peak_memory_gib(),
        "train_losses": [h["loss"] for h in result.log_history if "loss" in h],
        "eval_losses": [h["eval_loss"] for h in result.log_history if "eval_loss" in h],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64, help="training rows from the support sample")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # one side, in a child process
    args = parser.parse_args()

    from scenario_pack.core.runtime import hardware

    precision = hardware.choose_precision(args.precision)
    if args.side:
        print(json.dumps(measure_side(args.side, args.rows, args.epochs, precision)))
        return
    print(f"machine: {machine()}; precision {precision}; {args.rows} support rows, {args.epochs} epochs")
    options = ["--rows", str(args.rows), "--epochs", str(args.epochs), "--precision", precision]
    results = [run_side(Path(__file__), ["--side", side, *options]) for side in SIDES]
    rows = [
        [
            r["side"],
            f"{r['seconds']:.1f}",
            f"{r['tokens'] / r['seconds']:.0f}",
            r["replayed"],
            f"{r['peak_gib']:.2f}",
            f"{r['train_losses'][-1]:.4f}",
            " ".join(f"{loss:.4f}" for loss in r["eval_losses"]),
        ]
        for r in results
    ]
    headers = ["side", "seconds", "tokens/s", "replayed batches", "peak GiB", "last train loss"]
    print(table([*headers, "validation losses"], rows))
    computed, replayed = results
    gap = max(abs(a - b) for a, b in zip(computed["eval_losses"], replayed["eval_losses"], strict=True))
    print(
        f"replayed / computed: {replayed['seconds'] / computed['seconds']:.2f}x the seconds, "
        f"{replayed['peak_gib'] / computed['peak_gib']:.2f}x peak memory; "
        f"largest validation loss gap {gap:.4f}"
    )


if __name__ == "__main__":
    main()
