"""Batched, greedy generation for evaluation.

Prompts are sorted by length and generated in batches with left padding and the KV cache, so a
batch wastes little on padding; results come back in the caller's order.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from . import interrupt
from .scenario import Example


def autocast(precision: str, device: str) -> contextlib.AbstractContextManager:
    import torch

    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(device_type=device, dtype=dtype)
    return contextlib.nullcontext()


def decoding_options(eval_config: dict[str, Any]) -> dict[str, Any]:
    """The `model.generate` options set in the config's eval section (greedy decoding otherwise)."""
    return {
        "repetition_penalty": float(eval_config["repetition_penalty"]),
        "no_repeat_ngram_size": eval_config["no_repeat_ngram_size"],
    }


def render_prompts(tokenizer: Any, examples: list[Example]) -> list[str]:
    return [
        tokenizer.apply_chat_template(ex.prompt, tokenize=False, add_generation_prompt=True)
        for ex in examples
    ]


def _batches(order: list[int], budgets: list[int], batch_size: int) -> list[list[int]]:
    """Chunks of `order` that never mix generation budgets (a batch runs to its largest budget).

    Each budget's rows are split into equal chunks (18 rows at size 16: 9 + 9, not 16 + 2), since a
    nearly empty batch costs almost as much per step as a full one.
    """
    groups: list[list[int]] = []
    for i in order:
        if groups and budgets[groups[-1][0]] == budgets[i]:
            groups[-1].append(i)
        else:
            groups.append([i])
    batches = []
    for group in groups:
        count = -(-len(group) // batch_size)
        size = -(-len(group) // count)
        batches += [group[start : start + size] for start in range(0, len(group), size)]
    return batches


def generate(
    model: Any,
    tokenizer: Any,
    examples: list[Example],
    max_new_tokens: int | list[int],
    batch_size: int,
    precision: str = "fp32",
    progress: Callable[[int], None] | None = None,
    options: dict[str, Any] | None = None,
) -> list[tuple[str, float]]:
    """Return (text, seconds) per example, in input order; seconds is the batch time shared per row.

    `max_new_tokens` may be one budget or one per example (a tweet needs fewer than a blog post);
    `options` go to `model.generate` (e.g. repetition_penalty), the same for every model compared.
    """
    import torch

    prompts = render_prompts(tokenizer, examples)
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    budgets = max_new_tokens if isinstance(max_new_tokens, list) else [max_new_tokens] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: (budgets[i], len(encoded[i])), reverse=True)
    results: list[tuple[str, float] | None] = [None] * len(prompts)
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model.eval()
    for batch in _batches(order, budgets, batch_size):
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
                max_new_tokens=budgets[batch[0]],
                pad_token_id=pad_id,
                eos_token_id=tokenizer.eos_token_id,
                **{"do_sample": False, **(options or {})},
            )
        seconds = (time.perf_counter() - began) / len(batch)
        for row, i in enumerate(batch):
            text = tokenizer.decode(output[row, width:], skip_special_tokens=True)
            results[i] = (text, seconds)
        if progress:
            progress(len(batch))
        interrupt.check()
    return [r for r in results if r is not None]
