"""Export a finished run's tuned model for use outside scenario-pack: a merged checkpoint that plain
transformers loads, and a GGUF file (with an Ollama Modelfile) that llama.cpp and Ollama load.

Every target is checked before the model is loaded, so a refused export costs no time, and each is
written under a temporary name and moved into place: an existing file or folder is never replaced.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import ScenarioPackError
from ..reporting import model_card, results
from ..reporting.mix_results import MixResults
from ..reporting.results import RunResults
from ..training.tuned import load_tokenizer, load_tuned
from . import gguf_export
from .run_folder import CARD, RunFolder


@dataclass(frozen=True)
class Targets:
    """What to write: a merged checkpoint folder, a GGUF file of a quantization type, or both."""

    merged: Path | None = None
    gguf: Path | None = None
    gguf_type: str = "f16"  # one of gguf_export.TYPES


@dataclass
class Exported:
    """The files an export wrote, and what the user should know about them."""

    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def finished(run: RunFolder) -> RunResults | MixResults:
    """The results of a finished run folder (one with its report and tuned model), or a clear error."""
    if not run.report_json.exists() or not run.tuned().exists():
        raise ScenarioPackError(
            f"{run.root} has no {run.report_json.name} or {run.tuned().name}/: not a finished run folder. "
            "Pass the folder that 'scenario run' printed."
        )
    return results.read(run.report_json)


def export(run: RunFolder, report: RunResults | MixResults, targets: Targets) -> Exported:
    """Load the run's tuned model once, merged, and write every target (`report`: `finished(run)`)."""
    if report.training.method == "prompt-tuning":
        raise ScenarioPackError(
            "a prompt-tuning run cannot be merged or converted: its virtual tokens live outside the "
            f"weights. Load it with PeftModel.from_pretrained(base, '{run.tuned().name}') instead."
        )
    _check_free(targets)
    model = load_tuned(run.tuned(), report.training.method, report.model.name)
    tokenizer = load_tokenizer(run.tuned())  # saved with the run, chat template included
    done = Exported()
    if targets.merged:
        _write_merged(model, tokenizer, report, targets.merged)
        done.written.append(targets.merged)
    if targets.gguf:
        targets.gguf.parent.mkdir(parents=True, exist_ok=True)
        done.notes += gguf_export.write(model, tokenizer, targets.gguf, targets.gguf_type, report.model.name)
        atomic.write_text(modelfile_for(targets.gguf), gguf_export.modelfile(targets.gguf.name, tokenizer))
        done.written += [targets.gguf, modelfile_for(targets.gguf)]
    return done


def modelfile_for(gguf: Path) -> Path:
    """The Ollama Modelfile written beside a GGUF file (`ollama create NAME -f` reads it)."""
    return gguf.with_suffix(".Modelfile")


def _check_free(targets: Targets) -> None:
    """Refuse, before any work, a target that would replace something already there."""
    merged = targets.merged
    if merged and merged.exists() and (not merged.is_dir() or any(merged.iterdir())):
        raise ScenarioPackError(f"{merged} exists and is not empty. Choose a new folder for the export.")
    for path in (targets.gguf, modelfile_for(targets.gguf)) if targets.gguf else ():
        if path.exists():
            raise ScenarioPackError(f"{path} exists. Choose a new file name for --gguf.")


def _write_merged(model: Any, tokenizer: Any, report: RunResults | MixResults, target: Path) -> None:
    """Safetensors, tokenizer and model card in a temporary folder, then moved into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        model_card.write(report, tmp / CARD, merged=True)
        atomic.replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
