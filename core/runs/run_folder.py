"""A run folder: its layout (every path a run, sweep or mix writes) and who may write into it.

`RunFolder` is the one place that spells the folder's file names. A run marks the folder it creates
with MARKER. `--resume` continues only a marked folder; a marked folder is replaced only with
`--overwrite`, and then only the entries a run writes; a folder holding anything else is refused, or
with `--overwrite` written beside, never over, what is there.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import atomic
from ..errors import ConfigError

MARKER = ".scenario-run"
TUNED = "adapter"  # the tuned-model name of a run's fine-tune (a mix's: of its mix adapter)
CARD = "README.md"  # a model folder's model card, where the Hub and PEFT look for it


@dataclass(frozen=True)
class RunFolder:
    """Where each output of a run lives. A mix keeps one nested RunFolder per scenario (`member`)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    def split(self, part: str) -> Path:
        """The exact rows of a part ("train", "val" or "test"), for re-scoring and --resume checks."""
        return self.root / "data" / f"{part}.jsonl"

    def answers(self, name: str) -> Path:
        """A generation stage's saved answers, e.g. "base", "few_shot", "tuned", or a tuned name's."""
        return self.root / "stages" / f"{_stem(name)}_outputs.json"

    def context_answers(self, prefix: str = "") -> Path:
        return self.root / "stages" / f"{prefix}context_answers.json"

    def tuned(self, name: str = TUNED) -> Path:
        """A fine-tune's saved weights: TUNED, or "adapters/<name>" for per-group and mix members."""
        return self.root / name

    def card(self, name: str = TUNED) -> Path:
        """The model card in a fine-tune's folder."""
        return self.tuned(name) / CARD

    def group_tuned(self, field: str, value: str) -> str:
        """The tuned-model name of one value of a group field (per-group adapters)."""
        slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(value)) or "_"
        return f"adapters/{field}={slug}"

    def member_tuned(self, scenario: str) -> str:
        """The tuned-model name of a mix member's single-task adapter."""
        return f"adapters/{scenario}"

    def train_result(self, name: str = TUNED) -> Path:
        return self.root / "stages" / f"{_stem(name)}_train.json"

    def train_log(self, name: str = TUNED) -> Path:
        if name == TUNED:
            return self.root / "train_log.jsonl"
        return self.root / "stages" / f"{_stem(name)}_train_log.jsonl"

    def rows_seen(self, name: str, rank: int) -> Path:
        """Which training rows one process saw under data parallelism."""
        return self.root / "stages" / f"{_stem(name)}_rows_rank{rank}.json"

    def tracking(self, name: str = TUNED) -> Path:
        """A fine-tune's TensorBoard event files (--report-to tensorboard), with the run's metrics."""
        return self.root / "tensorboard" / _stem(name)

    def checkpoints(self, name: str | None = None) -> Path:
        return self.root / "checkpoints" / name if name else self.root / "checkpoints"

    @property
    def sweep_choice(self) -> Path:
        return self.root / "stages" / "sweep_choice.json"

    @property
    def sweep_db(self) -> Path:
        return self.root / "sweep.db"

    @property
    def best_config(self) -> Path:
        return self.root / "best.yaml"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.jsonl"

    @property
    def report_json(self) -> Path:
        return self.root / "report.json"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def loss_png(self) -> Path:
        return self.root / "loss.png"

    def member(self, name: str) -> RunFolder:
        """A mix's folder for one of its scenarios."""
        return RunFolder(self.root / name)


def _stem(name: str) -> str:
    return name.replace("/", "_")


# Every top-level entry a run, sweep or mix writes (a mix adds one folder per scenario).
ENTRIES = (
    "config.yaml",
    "data",
    "stages",
    "checkpoints",
    "tensorboard",
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
    from ..runtime.processes import Processes

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


def default_run_dir(scenario: str) -> Path:
    return Path("reports") / scenario / datetime.now().strftime("%Y%m%d-%H%M%S")
