"""End to end: `scenario run SCENARIO` on the shipped sample with default settings.

    python benchmarks/end_to_end.py [--scenario support] [--data FILE] [--keep DIR] [-- extra run options]

Runs the real command in a child process and prints its wall time, the time of each stage the
run recorded beside the time the run expected for it before it started (its probe's estimate, and
the ratio actual / expected), the peak memory (resident set size) reached by each stage's end, and
the training throughput.
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
from common import ROOT, machine, table  # noqa: E402

SAMPLES = {
    "support": ROOT / "data_templates" / "support" / "tickets.jsonl",
    "content": ROOT / "data_templates" / "content" / "posts.jsonl",
    "code": ROOT / "data_templates" / "code" / "tasks.jsonl",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="support")
    parser.add_argument("--data", type=Path, help="default: the scenario's sample in data_templates/")
    parser.add_argument(
        "--keep", type=Path, help="write the run here and keep it (default: a temporary folder)"
    )
    parser.add_argument("extra", nargs="*", help="more `scenario run` options, after --")
    args = parser.parse_args()

    args.data = args.data or SAMPLES[args.scenario]
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
    peaks, expected = report.get("peak_memory_by_stage", {}), report.get("expected_timings", {})
    rows = [
        [
            stage,
            f"{seconds:.1f}",
            f"{expected[stage]:.0f}" if stage in expected else "",
            f"{seconds / expected[stage]:.2f}" if stage in expected else "",
            f"{peaks[stage]:.2f}" if stage in peaks else "",
        ]
        for stage, seconds in report["timings"].items()
    ]
    total = sum(expected.values())
    done = sum(report["timings"][stage] for stage in expected)
    rows.append(
        ["estimated stages", f"{done:.1f}", f"{total:.0f}", f"{done / total:.2f}" if total else "", ""]
    )
    rows.append(["wall clock, with start-up", f"{wall:.1f}", "", "", f"{report['peak_memory_gib']:.2f}"])
    print(f"`scenario run {args.scenario}` on {args.data.name}: {report['data']['rows']}")
    headers = ["stage", "seconds", "expected", "actual/expected", "peak memory so far (GiB)"]
    print(table(headers, rows))
    for name, metric in report["metrics"].items():
        print(f"  {name}: base {metric['base']}, tuned {metric['tuned']} ({metric['verdict']})")
    print(
        f"training: {training['steps']} steps, {training['train_tokens']} real tokens, "
        f"{training['tokens_per_second']:.0f} tokens/s, precision {report['hardware']['precision']}; "
        f"peak memory {report['peak_memory_gib']:.2f} GiB"
    )


if __name__ == "__main__":
    main()
