"""The execution sandbox contains adversarial code and reports it as a failure, not a crash."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from scenario_pack.core.sandbox import runner
from scenario_pack.scenarios.code import harness

PYTEST = ["-q", "-x", "-p", "no:cacheprovider"]
GENEROUS = runner.Limits(wall_seconds=120, cpu_seconds=60, memory_mb=1024)


def job(test_body: str) -> tuple[dict[str, str], str, list[str]]:
    test = "def test_it():\n" + "".join(f"    {line}\n" for line in test_body.strip().splitlines())
    return {"solution.py": "def add(a, b):\n    return a + b\n", "test_solution.py": test}, "pytest", PYTEST


@pytest.fixture(scope="module")
def quick() -> runner.Limits:
    """Limits set from what a passing one-line test costs on this machine (its wall time bounds its CPU
    time): a slow CPU gets proportionally more, so no test here depends on the CPU being fast. Every
    snippet below that must hit a limit exceeds any limit (an endless loop, a 3 GB allocation)."""
    startup = max(runner.run(*job("pass"), limits=GENEROUS, env=harness.PYTEST_ENV).seconds for _ in range(2))
    cpu = math.ceil(3 * startup) + 2
    return runner.Limits(wall_seconds=2 * cpu + 10, cpu_seconds=cpu, memory_mb=1024)


def test_good_code_passes_and_bad_code_fails(quick: runner.Limits) -> None:
    good, bad = runner.run_many(
        [
            job("from solution import add\nassert add(2, 3) == 5"),
            job("from solution import add\nassert add(2, 2) == 5"),
        ],
        quick,
        env=harness.PYTEST_ENV,
    )
    assert good.passed and good.status == "passed"
    assert bad.status == "failed" and "assert 4 == 5" in bad.output


@pytest.mark.parametrize(
    ("name", "body", "status", "says"),
    [
        ("infinite loop", "while True:\n    pass", "timeout", ""),
        ("fork bomb", "import os\nwhile True:\n    os.fork()", "failed", "starting processes is not allowed"),
        (
            "subprocess",
            "import subprocess\nsubprocess.run(['true'])",
            "failed",
            "starting processes is not allowed",
        ),
        ("memory hog", "blob = bytearray(3 * 1024 ** 3)", "failed", "MemoryError"),
        (
            "socket",
            "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)",
            "failed",
            "network",
        ),
        ("native calls", "import ctypes\nctypes.CDLL(None).system(b'true')", "failed", "native calls"),
    ],
)
def test_adversarial_snippets_are_contained(
    name: str, body: str, status: str, says: str, quick: runner.Limits
) -> None:
    outcome = runner.run(*job(body), limits=quick, env=harness.PYTEST_ENV)
    assert outcome.status == status, outcome.output
    assert says in outcome.output
    assert outcome.seconds < quick.wall_seconds + 5


def test_files_outside_the_work_folder_cannot_be_deleted_or_written(
    tmp_path: Path, quick: runner.Limits
) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    outcomes = runner.run_many(
        [
            job(f"import os\nos.remove({str(victim)!r})"),
            job(f"import shutil\nshutil.rmtree({str(tmp_path)!r})"),
            job(f"open({str(tmp_path / 'new.txt')!r}, 'w').write('x')"),
            job("open('inside.txt', 'w').write('fine')\nassert open('inside.txt').read() == 'fine'"),
        ],
        quick,
        env=harness.PYTEST_ENV,
    )
    assert [o.status for o in outcomes] == ["failed", "failed", "failed", "passed"]
    assert all("outside the work folder" in o.output for o in outcomes[:3])
    assert victim.read_text() == "keep me" and not (tmp_path / "new.txt").exists()


def test_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch, quick: runner.Limits) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    outcome = runner.run(
        *job("import os\nassert 'SECRET_TOKEN' not in os.environ"), limits=quick, env=harness.PYTEST_ENV
    )
    assert outcome.passed, outcome.output


def test_the_sandboxed_pytest_loads_no_installed_plugin(quick: runner.Limits) -> None:
    """Each plugin costs CPU for every answer scored (hypothesis alone ~0.5 s): none is loaded."""
    check = "import sys\nassert 'hypothesis' not in sys.modules and 'anyio' not in sys.modules"
    lean = runner.run(*job(check), limits=quick, env=harness.PYTEST_ENV)
    assert lean.passed, lean.output
    assert runner.run(*job(check), limits=GENEROUS).status == "failed"  # the check can fail


def test_no_process_outlives_the_run() -> None:
    """In the PID namespace the code is process 1: when it ends, the kernel ends what it started."""
    import shutil
    import subprocess

    prefix = runner.namespaces()
    if "-rnpf" not in prefix:
        pytest.skip("this kernel lets no unprivileged user make a PID namespace")
    marker = "299.0731"  # a sleep no other process runs
    subprocess.run([*prefix, "sh", "-c", f"setsid sleep {marker} & echo started"], timeout=30, check=True)
    if not shutil.which("pgrep"):
        pytest.skip("pgrep is not installed")
    time.sleep(0.5)
    survivors = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True).stdout
    assert survivors == "", "a setsid grandchild survived the run"


UNHOOK = """
import gc
for f in gc.get_objects():
    if callable(f) and getattr(f, "__name__", "") == "_hook":
        f.__code__ = (lambda event, args: None).__code__
"""


@pytest.fixture(scope="module")
def confined() -> runner.Boundary:
    found = runner.boundary()
    if not found.confined:
        pytest.skip(f"no OS boundary on this machine ({found.describe()})")
    return found


def test_the_boundary_holds_after_the_audit_hooks_are_switched_off(
    tmp_path: Path, quick: runner.Limits, confined: runner.Boundary
) -> None:
    """With the Python-level guard disabled from inside, the kernel still refuses every way out."""
    import socket

    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("the user's")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(outside / "sock"))
    listener.listen(1)
    new = outside / "new.txt"
    attempts = {
        "chdir then write": f"import os\nos.chdir({str(outside)!r})\nopen('new.txt', 'w').write('x')",
        "dir_fd": (
            f"import os\nd = os.open({str(outside)!r}, os.O_RDONLY)\n"
            "os.open('new.txt', os.O_CREAT | os.O_WRONLY, dir_fd=d)"
        ),
        "read a user file": f"print(open({str(secret)!r}).read())",
        "read the project": f"print(open({str(Path(runner.__file__))!r}).read())",
        "sqlite": f"import sqlite3\nsqlite3.connect({str(outside / 'db')!r}).execute('create table t(x)')",
        "mkfifo": f"import os\nos.mkfifo({str(outside / 'fifo')!r})",
        "chmod": f"import os\nos.chmod({str(secret)!r}, 0o777)",
        "shell": f"import subprocess\nsubprocess.run(['/bin/sh', '-c', 'echo x > {new}'], check=True)",
        "ctypes system": f"import ctypes\nassert ctypes.CDLL(None).system(b'echo x > {new}') == 0",
        "unix socket": f"import socket\nsocket.socket(socket.AF_UNIX).connect({str(outside / 'sock')!r})",
        "tcp": "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=2)",
        "fork": "import os\nassert os.fork() != 0",
    }
    jobs = [job(UNHOOK + body) for body in attempts.values()]
    outcomes = runner.run_many(jobs, quick, env=harness.PYTEST_ENV)
    listener.close()
    for name, outcome in zip(attempts, outcomes, strict=True):
        assert outcome.status == "failed", (name, outcome.output)
        assert "the user's" not in outcome.output and "def run(" not in outcome.output, name
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt", "sock"]
    assert secret.read_text() == "the user's" and secret.stat().st_mode & 0o777 != 0o777


def test_an_answer_that_cannot_be_confined_is_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from scenario_pack.core.errors import SandboxError

    monkeypatch.setattr(runner, "boundary", lambda: runner.Boundary("", ()))
    with pytest.raises(SandboxError, match="no operating-system boundary .* --allow-unconfined"):
        harness.run_tests([("python", "def add(a, b):\n    return a + b\n", "def test_it():\n    pass\n")])


def test_endless_output_ends_at_the_limit_and_costs_no_memory() -> None:
    flood = {"flood.py": "import os\nwhile True:\n    os.write(1, b'x' * 65536)\n"}
    limits = runner.Limits(wall_seconds=3, cpu_seconds=60, memory_mb=512)
    outcome = runner.run(flood, "flood", [], limits)
    assert outcome.status == "timeout" and outcome.seconds < limits.wall_seconds + 6
    assert len(outcome.output) <= runner.OUTPUT_CHARS
