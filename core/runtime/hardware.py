"""What this machine can do, detected rather than assumed.

bf16 is chosen only where the hardware has native bf16 units (CUDA with bf16 support, or a CPU
with AVX512-BF16 / AMX): on AVX2-only CPUs bf16 matmuls are emulated and many times slower than
fp32, even though torch happily creates bf16 tensors there.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Hardware:
    device: str
    cpu_model: str
    cpu_flags: tuple[str, ...]
    cores: int
    accelerator: str | None

    @property
    def cpu_bf16(self) -> bool:
        return any(flag in self.cpu_flags for flag in BF16_CPU_FLAGS)

    def summary(self) -> dict[str, object]:
        out = asdict(self)
        out["cpu_flags"] = [f for f in self.cpu_flags if f.startswith(("avx", "amx", "fma", "sse4"))]
        out["cpu_bf16"] = self.cpu_bf16
        return out

    def describe(self) -> str:
        simd = [f for f in self.cpu_flags if f in ("avx2", "avx512f", *BF16_CPU_FLAGS)]
        text = f"{self.cpu_model} ({self.cores} cores; {', '.join(simd) or 'no AVX2'})"
        return f"{self.accelerator} + {text}" if self.accelerator else text


def _cpuinfo() -> tuple[str, tuple[str, ...]]:
    model, flags = platform.processor() or platform.machine(), ()
    path = Path("/proc/cpuinfo")
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = tuple(sorted(value.split()))
    return model, flags


def cap_onednn_cache() -> None:
    """Cap oneDNN's primitive cache at 128 entries (its default is 1,024) unless the user set it.

    Every new batch shape adds matmul primitives, training batches come in many shapes, and memory
    grows with the cached primitives. Measured on the default model (160 support rows, LoRA, bf16, AMD
    EPYC 2 cores): peak 4.02 GiB with the default cache, 3.45 GiB with 128, both about 305 tokens/s
    (8 entries: 3.25 GiB but 22% slower). oneDNN reads the variable when it starts: call this
    before the first matmul.
    """
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "128")


@lru_cache(maxsize=1)
def detect() -> Hardware:
    import torch

    model, flags = _cpuinfo()
    device, accelerator = "cpu", None
    if torch.cuda.is_available():
        device, accelerator = "cuda", torch.cuda.get_device_name(0)
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        device, accelerator = "mps", "Apple MPS"
    return Hardware(device, model, flags, os.cpu_count() or 1, accelerator)


def choose_precision(requested: str, hardware: Hardware | None = None) -> str:
    """Resolve 'auto' to the fastest precision this hardware computes natively."""
    if requested != "auto":
        return requested
    hardware = hardware or detect()
    if hardware.device == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if hardware.device == "cpu" and hardware.cpu_bf16:
        return "bf16"
    return "fp32"


def half_dtype(precision: str) -> Any:
    """The torch dtype a half precision computes in (bf16, fp16); None for fp32."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
