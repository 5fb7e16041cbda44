"""Run untrusted code (a model's answer and its tests) in a fresh, limited child process.

Each run gets a new temporary folder holding only its files, a scrubbed environment, resource
limits (CPU seconds, address space, file size, open files, no core dumps) and a wall-clock timeout
that kills the whole process group. Around it, what the operating system enforces where it can
(`boundary()` says what this machine offers, and reports record it):
- user, network and PID namespaces (`unshare -rnpf --kill-child`): no route out, and no process
  outlives the run;
- Landlock and seccomp, applied by the guard to itself before the code runs (boundary.py):
  reads only under Python and the installed packages, writes only in the folder, no TCP, no
  sockets, no new processes (so the memory limit holds for everything the code does), no chmod.
Python audit hooks (guard.py) come first and give clearer messages; the kernel holds when
they are switched off. Runs go in parallel over the CPU cores.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

GUARD = Path(__file__).with_name("guard.py")
EVIDENCE_BYTES = 1 << 20
OUTPUT_CHARS = 3000  # the tail of the output an Outcome keeps


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 20.0
    cpu_seconds: int = 15
    memory_mb: int = 2048  # address space: Python with Django maps about 500 MB
    file_mb: int = 16
    open_files: int = 256


@dataclass(frozen=True)
class Outcome:
    status: str  # passed | failed | timeout | crashed
    returncode: int | None
    output: str  # the tail of stdout and stderr
    seconds: float
    evidence: str = ""  # the evidence file the run left in its folder (see run), at most EVIDENCE_BYTES

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@functools.cache
def namespaces() -> list[str]:
    """`unshare` as a command prefix, with the namespaces this kernel lets an unprivileged user make.

    A network namespace has no route out; in a PID namespace the code is process 1, so when it ends
    (or `unshare` is killed: --kill-child) the kernel ends every process it started, setsid or not.
    """
    unshare = shutil.which("unshare")
    if not unshare:
        return []
    for flags in (["-rnpf", "--kill-child"], ["-rn"]):
        try:
            probe = subprocess.run([unshare, *flags, "true"], capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return [unshare, *flags]
    return []


@dataclass(frozen=True)
class Boundary:
    """What the operating system enforces around every run on this machine."""

    namespaces: str  # e.g. "user, network and PID namespaces", or "" without unshare
    applied: tuple[str, ...]  # Landlock and seccomp, as boundary.apply reported them

    @property
    def confined(self) -> bool:
        return bool(self.applied)

    def describe(self) -> str:
        parts = [p for p in (self.namespaces, *self.applied) if p]
        return "; ".join(parts) if self.confined else "none: only rlimits and Python audit hooks"


@functools.cache
def boundary() -> Boundary:
    """Probe once: start the guard as a run would and let it report what it could apply."""
    prefix = namespaces()
    names = {"-rnpf": "user, network and PID namespaces", "-rn": "user and network namespaces"}
    made = names.get(prefix[1], "") if prefix else ""
    with tempfile.TemporaryDirectory(prefix="scenario-sandbox-") as folder:
        command = [*prefix, sys.executable, "-I", "-B", str(GUARD), folder, "--boundary"]
        try:
            probe = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return Boundary(made, ())
    applied = tuple(p for p in probe.stdout.strip().split("; ") if p) if probe.returncode == 0 else ()
    return Boundary(made, applied)


def _limit(limits: Limits) -> None:  # runs in the child, between fork and exec
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    size = limits.file_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))  # not enforced for root: the guard refuses forks


def _environment(work: Path, extra: Mapping[str, str]) -> dict[str, str]:
    return {
        **extra,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin",
        "HOME": str(work),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
    }


def run(
    files: dict[str, str],
    module: str,
    args: list[str],
    limits: Limits = Limits(),
    env: Mapping[str, str] = MappingProxyType({}),
    evidence_file: str | None = None,
) -> Outcome:
    """Write `files` into a fresh folder and run `python -m module args` there under the limits.

    `env` adds variables to the scrubbed environment (nothing of the caller's is passed on);
    `evidence_file`, a file the run writes in its folder, is read back into Outcome.evidence."""
    with tempfile.TemporaryDirectory(prefix="scenario-sandbox-") as folder:
        work = Path(folder)
        for name, text in files.items():
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        command = [*namespaces(), sys.executable, "-I", "-B", str(GUARD), str(work), module, *args]
        start = time.perf_counter()
        child = subprocess.Popen(
            command,
            cwd=work,
            env=_environment(work, env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=functools.partial(_limit, limits),
            start_new_session=True,  # its own process group, killed as a whole
        )
        deadline = time.monotonic() + limits.wall_seconds
        with child.stdout:
            output, late = _read_until(child.stdout.fileno(), deadline)
        try:
            if late:
                raise subprocess.TimeoutExpired(command, limits.wall_seconds)
            child.wait(timeout=max(deadline - time.monotonic(), 0.01))
            status = _status(child.returncode)
        except subprocess.TimeoutExpired:  # the wall limit, or output closed while the code ran on
            _stop(child)
            status = "timeout"
        seconds = time.perf_counter() - start
        evidence = _read_evidence(work / evidence_file) if evidence_file else ""
    text = output.decode("utf-8", errors="replace")
    return Outcome(status, child.returncode, text[-OUTPUT_CHARS:], round(seconds, 3), evidence)


def _read_until(fd: int, deadline: float) -> tuple[bytes, bool]:
    """The output's last 4 x OUTPUT_CHARS bytes, read until it closes or the deadline passes (then
    True): code that prints without end costs no memory, and code that holds the pipe no time."""
    os.set_blocking(fd, False)
    tail = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                return bytes(tail), False
            tail += chunk
            del tail[: -4 * OUTPUT_CHARS]
    return bytes(tail), True


def _read_evidence(path: Path) -> str:
    """A regular file's first EVIDENCE_BYTES (the run may have replaced it with anything else)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return ""
        return handle.read(EVIDENCE_BYTES).decode("utf-8", errors="replace")


def _status(returncode: int) -> str:
    """passed, failed, timeout (a CPU or wall limit) or crashed (another signal). In a PID namespace the
    code's death by a signal reaches us as `unshare`'s exit code 128 + signal (the guard turns SIGXCPU,
    which process 1 would ignore, into that exit)."""
    signum = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    if signum in (signal.SIGXCPU, signal.SIGKILL):
        return "timeout"
    if signum:
        return "crashed"
    return "passed" if returncode == 0 else "failed"


def _stop(child: subprocess.Popen) -> None:
    """Kill the run's process group (in a PID namespace that ends everything the code started)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=5)


def run_many(
    jobs: list[tuple[dict[str, str], str, list[str]]],
    limits: Limits = Limits(),
    workers: int | None = None,
    env: Mapping[str, str] = MappingProxyType({}),
    evidence_file: str | None = None,
) -> list[Outcome]:
    """Run jobs in parallel, one per CPU core by default; results in job order."""
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return list(
            pool.map(lambda job: run(*job, limits=limits, env=env, evidence_file=evidence_file), jobs)
        )
