"""Export a finished run as one merged checkpoint that plain transformers loads."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from .. import atomic
from ..errors import ScenarioPackError
from ..runtime import models


def export_merged(run_dir: Path, target: Path) -> Path:
    """Merge the run's adapter into its base model; write safetensors, tokenizer and chat template."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    report_path, adapter = run_dir / "report.json", run_dir / "adapter"
    if not report_path.exists() or not adapter.exists():
        raise ScenarioPackError(
            f"{run_dir} has no report.json or adapter/: not a finished run folder. "
            "Pass the folder that 'scenario run' printed."
        )
    if target.exists() and any(target.iterdir()):
        raise ScenarioPackError(f"{target} exists and is not empty. Choose a new folder for the export.")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    method = report["training"]["method"]
    if method == "prompt-tuning":
        raise ScenarioPackError(
            "a prompt-tuning run cannot be merged: its virtual tokens live outside the "
            "weights. Load it with PeftModel.from_pretrained(base, 'adapter') instead."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        if method == "full":
            model = models.load_model(str(adapter))
        else:
            model = PeftModel.from_pretrained(models.load_model(report["config"]["model"]["name"]), adapter)
            model = model.merge_and_unload()
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(adapter).save_pretrained(
            tmp
        )  # saved with the run, chat template included
        atomic.replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
