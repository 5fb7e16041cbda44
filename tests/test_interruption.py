"""A real run killed with SIGKILL during training, then resumed: it must finish with a complete report."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scenario_pack.core.training.trainer import last_complete_checkpoint

CLI = [sys.executable, "-c", "from scenario_pack.core.cli import main; main()"]


def run_command(model: Path, data_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        *CLI,
        "run",
        "support",
        "--data",
        str(data_dir / "tickets.jsonl"),
        "--model",
        str(model),
        "--output",
        str(out),
        *extra,
    ]


def start_and_wait_for(command: list[str], path: Path, **popen: object) -> subprocess.Popen:
    """Start a run and return once `path` exists (the run reached that point) or the run ended."""
    process = subprocess.Popen(command, **popen)
    deadline = time.time() + 300
    while not path.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    return process


def test_killed_run_resumes_from_last_checkpoint(tiny_model: Path, support_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = run_command(
        tiny_model,
        support_dir,
        out,
        "--max-steps",
        "160",
        "--batch-size",
        "2",
        "--set",
        "train.eval_steps=20",  # a checkpoint every 20 steps: killed after the first, 140 steps left
        "--set",
        "eval.max_new_tokens=4",
        "--set",
        "eval.bootstrap=20",
        "--quiet",
    )
    first = out / "checkpoints" / "adapter" / "checkpoint-20" / "trainer_state.json"
    process = start_and_wait_for(command, first, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert first.exists(), "training never reached its first checkpoint"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "report.json").exists()  # nothing that looks finished
    assert not (out / "adapter").exists()
    resumed_from = last_complete_checkpoint(out / "checkpoints" / "adapter")
    assert resumed_from is not None
    base_outputs = (out / "stages" / "base_outputs.json").read_text()

    result = subprocess.run(
        [*command, "--resume"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["steps"] == 160
    train_log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [e["step"] for e in train_log if "loss" in e]
    assert steps == list(range(1, 161))  # the restored history plus the resumed steps, nothing twice
    assert (out / "stages" / "base_outputs.json").read_text() == base_outputs  # base evaluation not redone
    assert (out / "report.html").exists() and (out / "adapter" / "adapter_model.safetensors").exists()
    assert not (out / "checkpoints").exists()


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(
    tiny_model: Path, support_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    command = run_command(tiny_model, support_dir, out, "--max-steps", "2000", "--batch-size", "2", "--quiet")
    process = start_and_wait_for(
        command, out / "checkpoints" / "adapter", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert f"run the same command with --output {out} --resume" in stderr
    assert not (out / "report.json").exists()


def test_a_swallowed_ctrl_c_is_raised_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A library's bare `except:` may eat the KeyboardInterrupt; the next step must raise it again."""
    from scenario_pack.core.runtime import interrupt

    monkeypatch.setattr(interrupt, "_requested", False)
    previous = signal.getsignal(signal.SIGINT)
    interrupt.install()
    try:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        except BaseException:  # noqa: S110 - what a careless library does
            pass
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_inside_a_destructor_prints_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Python reports what a `__del__` raises with a traceback; a remembered Ctrl-C needs none."""
    from scenario_pack.core.runtime import interrupt

    monkeypatch.setattr(interrupt, "_requested", False)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # restored after the test
    previous = signal.getsignal(signal.SIGINT)
    interrupt.install()

    class Held:
        def __init__(self, error: BaseException) -> None:
            self.error = error

        def __del__(self) -> None:
            raise self.error

    try:
        os.kill(os.getpid(), signal.SIGINT)  # caught here: it stands for the interrupt a run remembers
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, previous)
    Held(KeyboardInterrupt())
    assert "Traceback" not in capsys.readouterr().err
    Held(ValueError("a real fault"))
    assert "ValueError: a real fault" in capsys.readouterr().err  # anything else is still reported
    with pytest.raises(KeyboardInterrupt):
        interrupt.check()
