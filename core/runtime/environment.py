"""Facts about the machine a run used, recorded in its report: stage timings, peak memory,
placement (device and precision) and library versions."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import hardware
from .processes import Processes

if TYPE_CHECKING:
    from ..run_config import RunConfig


@dataclass
class Timer:
    """Seconds per stage, the process's peak memory so far at the end of each (which stage set it), and
    the seconds each stage was expected to take (runs/estimates.py), for the report to set side by side."""

    timings: dict[str, float] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)
    expected: dict[str, float] = field(default_factory=dict)

    def stage(self, name: str, start: float) -> None:
        self.timings[name] = round(time.perf_counter() - start, 2)
        self.peaks[name] = peak_memory_gib()


def peak_memory_gib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return round(kib / (1024 * 1024 if sys.platform != "darwin" else 1024**3), 3)


def release_freed_memory() -> None:
    """Give the memory a finished stage freed back to the OS. glibc keeps freed chunks in its heap
    (training leaves a fragmented one), so the next stage's allocations would add to the peak."""
    gc.collect()  # the trainer's reference cycles hold its last batch and state
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):  # not glibc (musl): nothing to trim
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def placement(config: RunConfig, procs: Processes) -> tuple[hardware.Hardware, str, str]:
    """This process's hardware, device (its own GPU under accelerate launch) and compute precision."""
    hw = hardware.detect()
    device = procs.device if procs.count > 1 else hw.device
    return hw, device, hardware.choose_precision(config.model.precision, hw)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("scenario-pack", "torch", "transformers", "trl", "peft", "datasets", "accelerate"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
