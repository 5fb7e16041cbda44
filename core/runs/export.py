"""Export a finished run as one merged checkpoint that plain transformers loads."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .. import atomic
from ..errors import ScenarioPackError
from ..reporting import results
from ..training.tuned import load_tokenizer, load_tuned
from .run_folder import RunFolder


def export_merged(run: RunFolder, target: Path) -> Path:
    """Merge the run's adapter into its base model; write safetensors, tokenizer and chat template."""
    if not run.report_json.exists() or not run.tuned().exists():
        raise ScenarioPackError(
            f"{run.root} has no {run.report_json.name} or {run.tuned().name}/: not a finished run folder. "
            "Pass the folder that 'scenario run' printed."
        )
    if target.exists() and any(target.iterdir()):
        raise ScenarioPackError(f"{target} exists and is not empty. Choose a new folder for the export.")
    report = results.read(run.report_json)
    method = report.training.method
    if method == "prompt-tuning":
        raise ScenarioPackError(
            "a prompt-tuning run cannot be merged: its virtual tokens live outside the "
            f"weights. Load it with PeftModel.from_pretrained(base, '{run.tuned().name}') instead."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        load_tuned(run.tuned(), method, report.model.name).save_pretrained(tmp)
        load_tokenizer(run.tuned()).save_pretrained(tmp)  # saved with the run, chat template included
        atomic.replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
