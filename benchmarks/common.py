"""What every benchmark shares: the support sample's examples, the machine line, timing helpers.

Benchmarks are scripts, not tests: they print what they measured on this machine, with the CPU
named, and never fail because a machine is slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUPPORT_SAMPLE = ROOT / "data_templates" / "support" / "tickets.jsonl"


def support_prepared() -> Any:
    """The support sample validated and split as a default run would (a core.prepare.Prepared)."""
    from scenario_pack.core import config
    from scenario_pack.core.data import validation
    from scenario_pack.core.plugins import registry

    scenario = registry.load("support")
    return validation.prepare(scenario, config.resolve(scenario.defaults()), SUPPORT_SAMPLE, None)


def support_examples() -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The support sample's default run config and its examples by split, formatted as a run would."""
    prepared = support_prepared()
    return prepared.config, prepared.examples


def default_model() -> tuple[Any, Any, str]:
    """Tokenizer, fp32 model and local path of the default model (converted once, offline)."""
    from scenario_pack.core.runtime import models

    source = models.resolve(models.DEFAULT_MODEL)
    return models.load_tokenizer(models.DEFAULT_MODEL), models.load_model(models.DEFAULT_MODEL), source


# Variables that hold torch's, MKL's and oneDNN's kernels to an older instruction set: with them an
# AVX-512 machine runs the AVX2 code paths (its clock, cores and memory stay its own).
ISA_CAPS = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")


def machine() -> str:
    import torch

    from scenario_pack.core.runtime import hardware

    hw = hardware.detect()
    line = f"{hw.describe()}; torch {torch.__version__}, {torch.get_num_threads()} threads"
    capped = [f"{k}={os.environ[k]}" for k in ISA_CAPS if os.environ.get(k)]
    return line + (f"; instruction sets held back by {' '.join(capped)}" if capped else "")


def matmul_peak_gflops(precision: str, size: int = 2048, seconds: float = 3.0) -> float:
    """Dense square matmul throughput in the dtype training computes in (bf16 under autocast, else fp32)."""
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b  # warm-up: thread pool, kernel selection
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        runs += 1
    return 2 * size**3 * runs / (time.perf_counter() - start) / 1e9


def read_bandwidth_gbs(gib: float = 1.0, seconds: float = 3.0) -> float:
    """Memory read bandwidth: summing a tensor far larger than any cache, on every thread torch uses."""
    import torch

    x = torch.ones(int(gib * 2**30) // 4)
    x.sum()  # warm-up: pages mapped, threads started
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x.sum()
        runs += 1
    return x.numel() * 4 * runs / (time.perf_counter() - start) / 1e9


def run_side(script: Path, args: list[str]) -> dict[str, Any]:
    """Run one side of a comparison in its own process (so each has its own peak memory) and read its JSON."""
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{script.name} {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table, ready to paste into the README."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
