"""Batched, greedy generation for evaluation.

Prompts are sorted by length and generated in batches with left padding and the KV cache, so a
batch wastes little on padding; results come back in the caller's order.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from .scenario import Example


def autocast(precision: str, device: str) -> contextlib.AbstractContextManager:
    import torch

    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(device_type=device, dtype=dtype)
    return contextlib.nullcontext()


def render_prompts(tokenizer: Any, examples: list[Example]) -> list[str]:
    return [
        tokenizer.apply_chat_template(ex.prompt, tokenize=False, add_generation_prompt=True)
        for ex in examples
    ]


def generate(
    model: Any,
    tokenizer: Any,
    examples: list[Example],
    max_new_tokens: int,
    batch_size: int,
    precision: str = "fp32",
    progress: Callable[[int], None] | None = None,
) -> list[tuple[str, float]]:
    """Return (text, seconds) per example, in input order; seconds is the batch time shared per row."""
    import torch

    prompts = render_prompts(tokenizer, examples)
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]), reverse=True)
    results: list[tuple[str, float] | None] = [None] * len(prompts)
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model.eval()
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            ids = encoded[i]
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        began = time.perf_counter()
        with torch.inference_mode(), autocast(precision, device.type):
            output = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        seconds = (time.perf_counter() - began) / len(batch)
        for row, i in enumerate(batch):
            text = tokenizer.decode(output[row, width:], skip_special_tokens=True)
            results[i] = (text, seconds)
        if progress:
            progress(len(batch))
    return [r for r in results if r is not None]
