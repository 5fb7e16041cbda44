"""Keep what the frozen lower layers compute for each row, so later passes over the row skip them.

LoRA on the top layers (`train.lora_layers`) leaves every layer below them unchanged for the whole
fine-tune, and without dropout they give a row the same output at every pass. The first pass over a
row, training or validation, keeps the hidden states leaving the last frozen layer; a later pass
over a batch whose rows are all kept (a second epoch, every validation pass after the first) puts
them in place and skips the frozen layers. They are the values computing them again would give, so
the losses and gradients are too (tests/test_training.py trains the same adapter with and without).

Measured on the default model, a support batch of 8 x 316 tokens with LoRA on the top 10 of 30
layers (Xeon, 2 cores): the bottom 20 layers are 26% of a training step in bf16, 38% in fp32, and
57-59% of a validation pass in either. A whole fine-tune, `benchmarks/layer_replay.py` (support's
defaults, 2 epochs over 64 rows): 0.85x the time in bf16, 0.83x in fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

# The most memory kept (train.replay_gib): the support sample's 113k training and validation tokens
# take 0.26 GB at the default model's 576 fp32 values per token.
BYTES_PER_GIB = 1 << 30


def decoder_layers(model: Any) -> torch.nn.ModuleList | None:
    """The model's stack of transformer layers: the ModuleList with one entry per hidden layer."""
    count = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and count and len(module) == count:
            return module
    return None


def has_dropout(model_config: Any) -> bool:
    """Whether the model's config asks for any dropout (then a frozen layer's output varies by pass)."""
    settings = model_config.to_dict() if hasattr(model_config, "to_dict") else {}
    return any(
        ("dropout" in name or "pdrop" in name) and isinstance(value, float) and value > 0
        for name, value in settings.items()
    )


def lowest_trained(layers: torch.nn.ModuleList) -> int | None:
    """Index of the lowest layer holding a trainable weight (the backward pass stops there), or None."""
    return next(
        (i for i, layer in enumerate(layers) if any(p.requires_grad for p in layer.parameters())), None
    )


def frozen_below(model: Any, layers: torch.nn.ModuleList) -> int:
    """How many of `layers` (the model's) no training step changes and no dropout varies: those below
    the lowest one holding a trained weight, if nothing feeding them (the embeddings) is trained; else 0."""
    lowest = lowest_trained(layers)
    embeddings = model.get_input_embeddings()
    if not lowest or has_dropout(model.config) or any(p.requires_grad for p in embeddings.parameters()):
        return 0
    if any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in layers[:lowest].modules()):
        return 0
    return lowest


class LayerReplay:
    """The kept hidden states of a fine-tune, keyed by each row's tokens."""

    def __init__(self, layers: torch.nn.ModuleList, frozen: int, budget_bytes: int) -> None:
        self.layers, self.frozen, self.budget = layers, frozen, budget_bytes
        self.kept: dict[str, torch.Tensor] = {}
        self.kept_bytes = 0
        self.replayed = 0  # batches that skipped the frozen layers

    @classmethod
    def for_model(cls, model: Any, budget_gib: float) -> LayerReplay | None:
        """A replay for this (PEFT-wrapped) model, or None when nothing below its trained layers is frozen."""
        layers = decoder_layers(model)
        frozen = frozen_below(model, layers) if layers is not None and budget_gib > 0 else 0
        return cls(layers, frozen, int(budget_gib * BYTES_PER_GIB)) if frozen else None

    @contextlib.contextmanager
    def around(self, inputs: dict[str, Any], keys: list[str]) -> Iterator[None]:
        """Run one model call inside: it replays when every row of the batch is kept, else keeps them.

        `keys` name each row by its real tokens (completion_loss.row_digests); that is its identity
        for the frozen layers because left_align gives every row the positions 0, 1, ... of its tokens.
        """
        mask = inputs["attention_mask"].bool()
        if all(key in self.kept for key in keys):
            with self._replaying(keys, mask):
                yield
            self.replayed += 1
        else:
            with self._keeping(keys, mask):
                yield

    @contextlib.contextmanager
    def _replaying(self, keys: list[str], mask: torch.Tensor) -> Iterator[None]:
        first = self.kept[keys[0]]
        states = first.new_zeros(*mask.shape, first.shape[-1])
        for row, key in enumerate(keys):
            states[row, mask[row]] = self.kept[key]
        originals = list(self.layers[: self.frozen])
        for i in range(self.frozen - 1):
            self.layers[i] = _PassThrough()
        self.layers[self.frozen - 1] = _Emit(states)
        try:
            yield
        finally:
            for i, layer in enumerate(originals):
                self.layers[i] = layer

    @contextlib.contextmanager
    def _keeping(self, keys: list[str], mask: torch.Tensor) -> Iterator[None]:
        def keep(module: Any, args: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor):
                return  # a layer returning more than its hidden states: nothing to replay
            for row, key in enumerate(keys):
                if key in self.kept:
                    continue
                states = output[row, mask[row]].detach().clone()
                if self.kept_bytes + states.nbytes > self.budget:
                    return
                self.kept[key] = states
                self.kept_bytes += states.nbytes

        handle = self.layers[self.frozen - 1].register_forward_hook(keep)
        try:
            yield
        finally:
            handle.remove()


class _PassThrough(torch.nn.Module):
    """A skipped frozen layer: hands its input on."""

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return hidden_states


class _Emit(torch.nn.Module):
    """The last frozen layer, replayed: its kept output for the batch."""

    def __init__(self, states: torch.Tensor) -> None:
        super().__init__()
        self.states = states

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.states
