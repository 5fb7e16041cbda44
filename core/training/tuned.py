"""A fine-tune on disk: the one place that saves a tuned model and loads it back for generation.

A LoRA adapter is merged into its base for generation (same outputs, no adapter cost per token);
a full fine-tune is a checkpoint of its own; a prompt-tuning adapter stays a PeftModel, since its
virtual tokens live outside the weights. `scenario run`, run-mix, sweep, chat, generate and export
all load through `load_tuned`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..runtime import models


def for_generation(model: Any, method: str) -> Any:
    """A model just trained, as generation wants it: a LoRA adapter merged into its base."""
    return model.merge_and_unload() if method == "lora" else model


def load_tuned(folder: Path, method: str, base: Any, device: str = "cpu") -> Any:
    """The fine-tune saved in `folder`, ready to generate on `device`.

    `base` is the base model the adapter was trained on: loaded already, or its name (unused for a
    full fine-tune, which is a checkpoint of its own)."""
    if method == "full":
        return models.load_model(str(folder)).to(device)
    from peft import PeftModel

    model = models.load_model(base) if isinstance(base, str) else base
    return for_generation(PeftModel.from_pretrained(model.to(device), folder), method)


def load_tokenizer(folder: Path) -> Any:
    """The tokenizer saved with a fine-tune (its chat template included)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def save_tuned(model: Any, tokenizer: Any, folder: Path) -> None:
    """Write the trained weights (adapter or full checkpoint) and the tokenizer to `folder`."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
