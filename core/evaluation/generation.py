"""Batched, greedy generation for evaluation.

Prompts are sorted by length and generated in batches with left padding (built here, whatever the
tokenizer's padding_side), so a batch wastes little on padding; a batch holds as many rows as its KV
cache fits in eval.cache_gib, so the support sample's 90 short prompts go in one batch and few-shot
prompts ~30 at a time (default model, fp32). Each batch decodes into a KV cache preallocated for its
prompt width and answer budget; on CPU its prompts are prefilled into it one at a time, unpadded
(kv_cache.py).
Results come back in the caller's order.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..plugins.scenario import Example
from ..run_config import EvalConfig
from ..runtime import hardware, interrupt
from .cost import Shapes


def autocast(precision: str, device: str) -> contextlib.AbstractContextManager:
    import torch

    dtype = hardware.half_dtype(precision)
    return torch.autocast(device_type=device, dtype=dtype) if dtype else contextlib.nullcontext()


def compute_context(model: Any, precision: str, device: str) -> contextlib.AbstractContextManager:
    """Autocast for a model that still holds fp32 weights; none for one already in half precision."""
    import torch

    if all(p.dtype != torch.float32 for p in model.parameters()):
        return contextlib.nullcontext()
    return autocast(precision, device)


def inference_model(model: Any, precision: str) -> Any:
    """The model to generate with: on CPU under bf16/fp16, a copy with every weight in that dtype.

    Autocast keeps no cast of frozen weights, so generating under it re-casts every weight at every
    decoding step (measured: 1.5x slower on the default model). A model already in that dtype is
    returned as is. Elsewhere (GPUs) the model itself, run under autocast.
    """
    dtype = hardware.half_dtype(precision)
    params = list(model.parameters())
    if dtype is None or params[0].device.type != "cpu" or all(p.dtype == dtype for p in params):
        return model
    half = copy.deepcopy(model).to(dtype)
    for module in half.modules():
        # TRL's trainer replaces a model's forward on the instance with a closure over that model; a
        # copy would keep calling the original's (fp32) forward. The class's own forward is the model.
        vars(module).pop("forward", None)
    # Measured: bf16 weights that require no gradient (a tuned model's frozen base) made one
    # evaluation grow by ~2 GB on CPU, the same weights requiring grad did not, with identical
    # answers at the same speed. Under inference_mode requiring grad costs nothing.
    return half.requires_grad_(True)


def value_bytes(model: Any, precision: str) -> int:
    """Bytes per weight and KV cache value as `model` generates under `precision` (autocast on a GPU
    computes in half precision from fp32 weights)."""
    dtype = hardware.half_dtype(precision)
    return dtype.itemsize if dtype else next(model.parameters()).element_size()


def decoding_options(eval_config: EvalConfig) -> dict[str, Any]:
    """The `model.generate` options set in the config's eval section (greedy decoding otherwise)."""
    return {
        "repetition_penalty": float(eval_config.repetition_penalty),
        "no_repeat_ngram_size": eval_config.no_repeat_ngram_size,
    }


def render_prompts(tokenizer: Any, examples: list[Example]) -> list[str]:
    return [
        tokenizer.apply_chat_template(ex.prompt, tokenize=False, add_generation_prompt=True)
        for ex in examples
    ]


@dataclass(frozen=True)
class Batch:
    """One generated batch as it ran: which prompts, their real token counts, decoding steps, seconds."""

    rows: list[int]
    prompt_tokens: list[int]
    steps: int
    seconds: float
    steered: list[bool]  # per row: its own greedy choice left the allowed answer starts (see `starts`)


def plan(
    order: list[int], budgets: list[int], lengths: list[int], batch_size: int, batch_tokens: int
) -> list[list[int]]:
    """Chunks of `order` (longest prompt first) that never mix generation budgets.

    A batch runs to its largest budget and is as wide as its first (longest) prompt; it takes rows
    while it holds at most `batch_size` of them and rows x (width + budget) stays within
    `batch_tokens`, which bounds the KV cache (Shapes.cache_tokens; fp32 default model: 40,777). Wide
    batches pay: a decoding step's weights are read once for all its rows (AVX2 EPYC, fp32, support
    sample: 90 plain prompts in one batch decode in 55 s, in batches of 32 in 74 s). The last two
    chunks of a budget share their rows evenly (18 rows at size 16: 9 + 9, not 16 + 2): a nearly
    empty batch costs almost as much per step as a full one.
    """
    groups: list[list[int]] = []
    for i in order:
        if groups and budgets[groups[-1][0]] == budgets[i]:
            groups[-1].append(i)
        else:
            groups.append([i])
    batches: list[list[int]] = []
    for group in groups:
        chunks = [[group[0]]]
        for i in group[1:]:
            width = lengths[chunks[-1][0]] + budgets[i]
            if len(chunks[-1]) < batch_size and (len(chunks[-1]) + 1) * width <= batch_tokens:
                chunks[-1].append(i)
            else:
                chunks.append([i])
        batches += _even_out(chunks)
    return batches


def _even_out(chunks: list[list[int]]) -> list[list[int]]:
    """Share the rows of the last two chunks evenly when the last is the smaller (the limits still
    hold: the moved rows are no longer than the row that set the earlier chunk's width)."""
    if len(chunks) > 1 and len(chunks[-1]) < len(chunks[-2]):
        rows = chunks[-2] + chunks[-1]
        half = -(-len(rows) // 2)
        chunks[-2:] = [rows[:half], rows[half:]]
    return chunks


def generate(
    model: Any,
    tokenizer: Any,
    examples: list[Example],
    max_new_tokens: int | list[int],
    batch_size: int,
    precision: str = "fp32",
    progress: Callable[[int], None] | None = None,
    options: dict[str, Any] | None = None,
    cache_gib: float = EvalConfig.cache_gib,
    trace: list[Batch] | None = None,
    starts: list[str] | None = None,
) -> list[tuple[str, float]]:
    """Return (text, seconds) per example, in input order.

    A row's seconds run from its batch's start to its own last token (its end of text, or the
    batch's last step): what a user of that batch waited for it. `max_new_tokens` may be one budget
    or one per example (a tweet needs fewer than a blog post); `options` go to `model.generate`
    (e.g. repetition_penalty), the same for every model compared. A batch's KV cache stays within
    `cache_gib`, which sets how many rows it takes (`plan`). `starts`, when given, are the
    texts an answer may begin with (a closed set of labels): each row's first tokens follow one of
    them. `trace`, when given, receives one Batch per batch (timing, and which rows the starts steered).
    """
    import torch

    from . import kv_cache

    model = inference_model(model, precision)
    prompts = render_prompts(tokenizer, examples)
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    budgets = max_new_tokens if isinstance(max_new_tokens, list) else [max_new_tokens] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: (budgets[i], len(encoded[i])), reverse=True)
    results: list[tuple[str, float] | None] = [None] * len(prompts)
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model.eval()
    lengths = [len(ids) for ids in encoded]
    sequences = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in starts] if starts else []
    batch_tokens = Shapes.of(model.config, value_bytes(model, precision)).cache_tokens(cache_gib)
    for batch in plan(order, budgets, lengths, batch_size, batch_tokens):
        width = max(len(encoded[i]) for i in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            ids = encoded[i]
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        began = time.perf_counter()
        with torch.inference_mode(), compute_context(model, precision, device.type):
            runner, inputs = _model_inputs(model, input_ids.to(device), attention.to(device), pad_id)
            start = inputs["input_ids"].shape[1]  # where the answer begins in the output
            finished = _finish_times(len(batch), tokenizer.eos_token_id)
            closed = [_closed_start(sequences, start, len(batch))] if sequences else []
            capacity = start + budgets[batch[0]]
            if prefills_alone(device.type) and "inputs_embeds" not in inputs:
                cache = kv_cache.prefilled(runner, [encoded[i] for i in batch], capacity)
            else:
                cache = kv_cache.for_batch(runner, capacity)
            output = runner.generate(
                **inputs,
                max_new_tokens=budgets[batch[0]],
                pad_token_id=pad_id,
                eos_token_id=tokenizer.eos_token_id,
                stopping_criteria=[finished],
                logits_processor=closed,
                cache=cache,
                **{"do_sample": False, **(options or {})},
            )
            del cache  # freed before the next batch builds its own: the peak holds one batch's cache
        ended = time.perf_counter()
        for row, i in enumerate(batch):
            text = tokenizer.decode(output[row, start:], skip_special_tokens=True)
            results[i] = (text, round((finished.times[row] or ended) - began, 4))
        if trace is not None:
            tokens = [len(encoded[i]) for i in batch]
            steered = closed[0].steered if closed else [False] * len(batch)
            trace.append(Batch(list(batch), tokens, output.shape[1] - start, ended - began, steered))
        if progress:
            progress(len(batch))
        interrupt.check()
    return [r for r in results if r is not None]


def prefills_alone(device: str) -> bool:
    """Whether a batch's prompts are prefilled one at a time (kv_cache.prefilled): on CPU, where a
    lone prompt of a few hundred tokens already fills the matmuls; a GPU reads the padded batch at once."""
    return device == "cpu"


def _model_inputs(model: Any, input_ids: Any, attention: Any, pad_id: int) -> tuple[Any, dict[str, Any]]:
    """The model to call `generate` on and its inputs.

    A prompt-tuning PeftModel generates from its base, with the virtual tokens' embeddings put before
    each (left-padded) prompt here, as PEFT does at the first step: PEFT 0.21 looks for the cache
    under transformers 4's name, finds none under transformers 5 and would insert the virtual tokens
    again at every decoding step. The token ids carry a pad per virtual token, so processors that read
    the prompt (n-gram and repetition rules) see the same ids as with any other model.
    """
    import torch

    config = getattr(model, "active_peft_config", None)
    if config is None or config.peft_type != "PROMPT_TUNING":
        return model, {"input_ids": input_ids, "attention_mask": attention}
    base = model.get_base_model()
    rows, virtual = input_ids.shape[0], config.num_virtual_tokens
    embeds = base.get_input_embeddings()(input_ids)
    prompts = model.get_prompt(batch_size=rows).to(embeds.dtype)
    return base, {
        "input_ids": torch.cat((input_ids.new_full((rows, virtual), pad_id), input_ids), dim=1),
        "inputs_embeds": torch.cat((prompts, embeds), dim=1),
        "attention_mask": torch.cat((attention.new_ones((rows, virtual)), attention), dim=1),
    }


def _finish_times(rows: int, eos_id: int | None) -> Any:
    """A stopping criterion that stops nothing: it notes when each row first ends its text."""
    import torch
    from transformers import StoppingCriteria

    class FinishTimes(StoppingCriteria):
        def __init__(self) -> None:
            self.times: list[float | None] = [None] * rows

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            now = time.perf_counter()
            for row, token in enumerate(input_ids[:, -1].tolist()):
                if self.times[row] is None and token == eos_id:
                    self.times[row] = now
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    return FinishTimes()


def _closed_start(sequences: list[list[int]], width: int, rows: int) -> Any:
    """A logits processor that keeps each row's first tokens on one of `sequences` (a prefix tree).

    Where a row's own best token leaves every allowed start, the row is marked as steered: its
    unconstrained greedy answer would not have begun with a label of the set.
    """
    import torch
    from transformers import LogitsProcessor

    allowed: dict[tuple[int, ...], list[int]] = {}
    for seq in sequences:
        for k in range(len(seq)):
            options = allowed.setdefault(tuple(seq[:k]), [])
            if seq[k] not in options:
                options.append(seq[k])
    longest = max(len(seq) for seq in sequences)

    class ClosedStart(LogitsProcessor):
        def __init__(self) -> None:
            self.steered = [False] * rows

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            generated = input_ids[:, width:]
            if generated.shape[1] >= longest:
                return scores
            scores = scores.clone()
            for row, prefix in enumerate(generated.tolist()):
                options = allowed.get(tuple(prefix))
                if options is None:  # a whole start is written: the rest of the answer is free
                    continue
                keep = torch.tensor(options, device=scores.device)
                if int(scores[row].argmax()) not in options:
                    self.steered[row] = True
                kept = scores[row, keep]
                if torch.isneginf(kept).all():  # another processor banned them all: still choose one
                    kept = torch.zeros_like(kept)
                scores[row] = float("-inf")
                scores[row, keep] = kept
            return scores

    return ClosedStart()
