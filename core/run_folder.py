"""Which folders a run may write into: its own, never a user's.

A run marks the folder it creates with MARKER. `--resume` continues only a marked folder; a marked
folder is replaced only with `--overwrite`, and then only the entries a run writes; a folder holding
anything else is refused, or with `--overwrite` written beside, never over, what is there.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from . import atomic
from .errors import ConfigError

MARKER = ".scenario-run"
# Every top-level entry a run, sweep or mix writes (a mix adds one folder per scenario).
ENTRIES = (
    "config.yaml",
    "data",
    "stages",
    "checkpoints",
    "adapter",
    "adapters",
    "predictions.jsonl",
    "train_log.jsonl",
    "report.json",
    "report.md",
    "report.html",
    "loss.png",
    "sweep.db",
    "best.yaml",
)


def claim(run_dir: Path, resume: bool, overwrite: bool, extra: Iterable[str] = ()) -> None:
    """Make `run_dir` this run's folder, or raise ConfigError saying why it cannot be and what to do.

    Under `accelerate launch` every process checks before the main one takes the folder."""
    from .processes import Processes

    procs = Processes.current()
    check(run_dir, resume, overwrite, extra)
    procs.wait()
    if procs.main and not resume:
        _take(run_dir, overwrite, extra)
    procs.wait()


def check(run_dir: Path, resume: bool, overwrite: bool, extra: Iterable[str] = ()) -> None:
    """Raise ConfigError when this run may not write into `run_dir`; change nothing."""
    marked = (run_dir / MARKER).is_file()
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--output {run_dir} is a file, not a folder. Choose a new folder for the run.")
    if resume:
        if not marked:
            raise ConfigError(
                f"--resume: {run_dir} holds no scenario-pack run (no {MARKER} file). Give --output the "
                "folder of the run to continue."
            )
        return
    ours = (*ENTRIES, *extra)
    held = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else []
    if marked:
        if not overwrite:
            raise ConfigError(
                f"--output {run_dir} holds an earlier run. Add --resume to continue it, --overwrite to "
                "replace it, or choose another folder."
            )
    elif held:
        clashes = [name for name in held if name in ours]
        if not overwrite:
            raise ConfigError(
                f"--output {run_dir} already holds files that are not a scenario-pack run "
                f"({', '.join(held[:3])}{', ...' if len(held) > 3 else ''}). Choose a new or empty folder, "
                "or add --overwrite to write the run beside them."
            )
        if clashes:
            raise ConfigError(
                f"--output {run_dir}: {', '.join(clashes)} there was not written by scenario-pack, and a run "
                "would replace it. --overwrite never replaces files it did not write: choose another folder."
            )


def _take(run_dir: Path, overwrite: bool, extra: Iterable[str]) -> None:
    """Mark the folder as this run's; an earlier run's entries go first (after check allowed it)."""
    if overwrite and (run_dir / MARKER).is_file():
        for name in (*ENTRIES, *extra):  # the earlier run's entries only; anything else stays
            path = run_dir / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    stamp = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    atomic.write_text(run_dir / MARKER, json.dumps(stamp) + "\n")
