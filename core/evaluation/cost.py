"""What generation costs on a model's shapes: FLOPs to read a prompt, bytes to take a decoding step.

Reading a prompt (prefill) is bound by matmul throughput; a decoding step reads every weight and
the whole KV cache once, so it is bound by memory bandwidth. The limits printed by
benchmarks/generation_speed.py rest on these counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def attention_heads(config: Any) -> tuple[int, int]:
    """Query heads and the size of each (a config may set its head size apart from hidden / heads)."""
    heads = config.num_attention_heads
    return heads, getattr(config, "head_dim", None) or config.hidden_size // heads


@dataclass(frozen=True)
class Shapes:
    """The sizes of a decoder-only transformer that decide its cost per token."""

    layers: int
    hidden: int
    kv_dim: int  # keys (or values) per token and layer: kv heads x head size
    intermediate: int
    vocab: int
    dtype_bytes: int  # bytes per weight and cache value in the precision it computes in

    @classmethod
    def of(cls, config: Any, dtype_bytes: int) -> Shapes:
        heads, head_dim = attention_heads(config)
        return cls(
            layers=config.num_hidden_layers,
            hidden=config.hidden_size,
            kv_dim=getattr(config, "num_key_value_heads", heads) * head_dim,
            intermediate=config.intermediate_size,
            vocab=config.vocab_size,
            dtype_bytes=dtype_bytes,
        )

    @property
    def layer_weights(self) -> int:
        """Weights of the linear layers of every transformer block (gated MLP: three matrices)."""
        d = self.hidden
        return self.layers * (2 * d * d + 2 * d * self.kv_dim + 3 * d * self.intermediate)

    @property
    def cache_bytes_per_token(self) -> int:
        """The keys and values one token keeps in the KV cache, every layer."""
        return 2 * self.layers * self.kv_dim * self.dtype_bytes

    def cache_tokens(self, gib: float) -> int:
        """Tokens whose keys and values fit in `gib` GiB of KV cache (at least one)."""
        return max(1, int(gib * 2**30) // self.cache_bytes_per_token)

    def linear_flops(self, tokens: int) -> float:
        """Reading `tokens` prompt tokens through every block's linear layers, the LM head for the last."""
        return 2 * self.layer_weights * tokens + 2 * self.hidden * self.vocab

    def attention_flops(self, queries: int, keys: int) -> float:
        """Every query against every key position (a mask that hides some still computes them)."""
        return 4 * self.layers * self.hidden * queries * keys

    def prefill_flops(self, tokens: int) -> float:
        """One prompt: every block for every token, causal attention, the LM head for the last token."""
        attention = self.layers * 2 * self.hidden * tokens * (tokens + 1)  # 4d per (query, key) pair
        return 2 * self.layer_weights * tokens + attention + 2 * self.hidden * self.vocab

    def step_flops(self, rows: int, context: int) -> float:
        """One decoding step of `rows` rows that attend over `context` positions."""
        attention = 4 * self.layers * self.hidden * context
        return rows * (2 * self.layer_weights + 2 * self.hidden * self.vocab + attention)

    def step_bytes(self, rows: int, context: int) -> float:
        """Bytes one decoding step must read: every weight once (the LM head too) and the KV cache."""
        weights = self.layer_weights + self.hidden * self.vocab
        cache = rows * context * self.layers * 2 * self.kv_dim
        return (weights + cache) * self.dtype_bytes


def batch_limit(
    shapes: Shapes, prompt_tokens: list[int], steps: int, flops_per_s: float, bytes_per_s: float
) -> float:
    """Fewest seconds one batch can take: its real prompt tokens at the matmul peak, then each decoding
    step at the slower of its FLOPs at that peak and its bytes at the memory bandwidth."""
    rows = len(prompt_tokens)
    prefill = sum(shapes.prefill_flops(n) for n in prompt_tokens) / flops_per_s
    context = sum(prompt_tokens) // rows
    decode = sum(
        max(shapes.step_flops(rows, c) / flops_per_s, shapes.step_bytes(rows, c) / bytes_per_s)
        for c in range(context, context + steps)
    )
    return prefill + decode
