"""A KV cache for batched evaluation that never copies what it already holds.

transformers' default cache grows every layer's keys and values by a `torch.cat` at each decoding
step: a copy of the whole context, per layer, per step. Its static cache is preallocated, but
attention then runs over the full preallocated length, masked. Generation here knows each batch's
final length (prompt width plus answer budget), so each full-attention layer gets one buffer of that
length and attention is handed a view of the part written so far: no copy, no empty slots attended.

Measured on the default model in fp32 (Xeon with AVX-512, 2 cores), same tokens as the default cache:
32 plain support prompts of 281 tokens, +112: 163 -> 116 ms per decoding step (28.1 -> 22.5 s);
14 three-shot prompts of 1,035 tokens: 152 ms per step with the static cache, 141 with this one.

On CPU a batch's prompts are also prefilled one at a time (`prefilled`): a padded batch hands
attention an explicit mask, so SDPA computes every block of every row, where a lone unpadded prompt
runs causal and skips the blocks above the diagonal. Batching adds nothing there: a prompt of a few
hundred tokens already fills the matmuls.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer


class PreallocatedLayer(DynamicLayer):
    """One full-attention layer's keys and values, written in place into a buffer of `capacity`
    tokens; a batch that outgrows it (e.g. prompt tuning's virtual tokens) gets a buffer twice as long."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        self.key_buffer = _buffer(key_states, self.capacity)
        self.value_buffer = _buffer(value_states, self.capacity)
        self.is_initialized = True

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self.key_buffer.shape[-2]:
            self.key_buffer = _grown(self.key_buffer, self.length, end)
            self.value_buffer = _grown(self.value_buffer, self.length, end)
        self.key_buffer[:, :, self.length : end] = key_states
        self.value_buffer[:, :, self.length : end] = value_states
        self.length = end
        self.keys = self.key_buffer[:, :, :end]
        self.values = self.value_buffer[:, :, :end]
        return self.keys, self.values

    def place(self, row: int, rows: int, start: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Write one prompt's keys and values (a batch of one) into `row` of a batch of `rows`, from
        position `start` on (left padding: the slots before it stay zero, and are masked)."""
        if not self.is_initialized:
            self.device = keys.device
            self.key_buffer = _buffer(keys, self.capacity, rows).zero_()
            self.value_buffer = _buffer(values, self.capacity, rows).zero_()
            self.is_initialized = True
        end = start + keys.shape[-2]
        self.key_buffer[row, :, start:end] = keys[0]
        self.value_buffer[row, :, start:end] = values[0]
        self.length = end
        self.keys = self.key_buffer[:, :, :end]
        self.values = self.value_buffer[:, :, :end]

    def get_seq_length(self) -> int:
        return self.length

    def reset(self) -> None:
        super().reset()
        self.length = 0


def _buffer(like: torch.Tensor, capacity: int, rows: int | None = None) -> torch.Tensor:
    batch, heads, _, dim = like.shape
    return torch.empty(rows or batch, heads, capacity, dim, dtype=like.dtype, device=like.device)


def _grown(buffer: torch.Tensor, filled: int, needed: int) -> torch.Tensor:
    bigger = _buffer(buffer, max(needed, 2 * buffer.shape[-2]))
    bigger[:, :, :filled] = buffer[:, :, :filled]
    return bigger


def for_batch(model: Any, capacity: int) -> DynamicCache:
    """The model's own cache layout, with every plain full-attention layer preallocated for
    `capacity` tokens (sliding-window and other special layers keep their own classes)."""
    cache = DynamicCache(config=model.config)
    cache.layers = [
        PreallocatedLayer(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers
    ]
    return cache


def prefilled(model: Any, prompts: list[list[int]], capacity: int) -> DynamicCache:
    """`for_batch`'s cache holding every prompt of the batch but its last token, each computed on its
    own (no padding, causal attention) and placed as the left-padded batch has it; `generate`, given
    the whole padded batch and this cache, computes only the last column. A model with other kinds of
    layers (sliding windows) gets the empty cache and prefills the padded batch as usual."""
    cache = for_batch(model, capacity)
    if not all(isinstance(layer, PreallocatedLayer) for layer in cache.layers):
        return cache
    width = max(len(ids) for ids in prompts)
    device = next(model.parameters()).device
    for row, ids in enumerate(prompts):
        if len(ids) < 2:  # nothing before its last token: its row stays padding
            continue
        own = DynamicCache(config=model.config)
        model(input_ids=torch.tensor([ids[:-1]], device=device), cache=own, use_cache=True, logits_to_keep=1)
        for layer, computed in zip(cache.layers, own.layers, strict=True):
            layer.place(row, len(prompts), width - len(ids), computed.keys, computed.values)
    return cache
