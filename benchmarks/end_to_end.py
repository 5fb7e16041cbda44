"""End to end: `scenario run support` on the shipped sample with default settings.

    python benchmarks/end_to_end.py [--scenario support] [--data FILE] [--keep DIR] [-- extra run options]

Runs the real command in a child process and prints its wall time, the time of each stage the
run recorded with the peak memory (resident set size) reached by its end, and the training throughput.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SUPPORT_SAMPLE, machine, table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="support")
    parser.add_argument("--data", type=Path, default=SUPPORT_SAMPLE)
    parser.add_argument(
        "--keep", type=Path, help="write the run here and keep it (default: a temporary folder)"
    )
    parser.add_argument("extra", nargs="*", help="more `scenario run` options, after --")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "run"
        command = [
            sys.executable,
            "-c",
            "from scenario_pack.core.cli import main; main()",
            "run",
            args.scenario,
        ]
        command += ["--data", str(args.data), "--output", str(out), "--quiet", *args.extra]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            sys.exit(f"the run failed:\n{result.stderr[-4000:]}")
        report = json.loads((out / "report.json").read_text())
    training = report["training"]
    peaks = report.get("peak_memory_by_stage", {})
    rows = [
        [stage, f"{seconds:.1f}", f"{peaks[stage]:.2f}" if stage in peaks else ""]
        for stage, seconds in report["timings"].items()
    ]
    rows.append(["wall clock, with start-up", f"{wall:.1f}", f"{report['peak_memory_gib']:.2f}"])
    print(f"`scenario run {args.scenario}` on {args.data.name}: {report['data']['rows']}")
    print(table(["stage", "seconds", "peak memory so far (GiB)"], rows))
    for name, metric in report["metrics"].items():
        print(f"  {name}: base {metric['base']}, tuned {metric['tuned']} ({metric['verdict']})")
    print(
        f"training: {training['steps']} steps, {training['train_tokens']} real tokens, "
        f"{training['tokens_per_second']:.0f} tokens/s, precision {report['hardware']['precision']}; "
        f"peak memory {report['peak_memory_gib']:.2f} GiB"
    )


if __name__ == "__main__":
    main()
