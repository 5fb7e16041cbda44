"""The loss of a fine-tune on CPU: TRL's data handling, a cheaper loss on the completion tokens.

`trainer_class` is the SFTTrainer that `trainer.train` runs; the functions before it are its parts.
"""

from __future__ import annotations

import contextlib
from typing import Any


def left_align(inputs: dict[str, Any]) -> dict[str, Any]:
    """Move each right-padded row's tokens to the end of the batch and ask only for the logits the loss needs.

    With every row ending at the last position, all completions sit in the last K positions, so the
    model computes its (vocabulary-sized) LM head and softmax for those K positions only, not for
    every prompt token. Explicit position ids keep positions identical to the unshifted rows.
    """
    import torch

    mask = inputs["attention_mask"]
    width = mask.shape[1]
    shift = width - mask.sum(dim=1, keepdim=True)
    index = (torch.arange(width, device=mask.device).unsqueeze(0) - shift) % width
    out = {
        k: torch.gather(v, 1, index) if k in ("input_ids", "attention_mask", "labels") else v
        for k, v in inputs.items()
    }
    out["position_ids"] = (out["attention_mask"].cumsum(dim=1) - 1).clamp(min=0)
    first_label = (out["labels"] != -100).float().argmax(dim=1).min().item()
    out["logits_to_keep"] = int(min(width, width - first_label + 1))
    return out


def tail_loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
    """Token cross-entropy for logits that cover only the last K positions (see left_align)."""
    import torch.nn.functional as F

    logits = outputs.logits
    targets = labels[:, labels.shape[1] - logits.shape[1] + 1 :].to(logits.device)
    loss = F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )
    count = num_items_in_batch if num_items_in_batch is not None else (targets != -100).sum()
    return loss / count


def row_digests(inputs: dict[str, Any]) -> list[str]:
    """A short digest of each row's real tokens: which examples a process trained on, without the text."""
    import hashlib

    return [
        hashlib.sha256(ids[mask.bool()].numpy().tobytes()).hexdigest()[:16]
        for ids, mask in zip(inputs["input_ids"].cpu(), inputs["attention_mask"].cpu(), strict=True)
    ]


def trainer_class() -> type:
    from transformers import Trainer
    from trl import SFTTrainer

    class CompletionLossTrainer(SFTTrainer):
        """SFTTrainer with TRL's data handling and a cheaper loss computation on CPU.

        TRL 1.16 computes the loss with a chunked fused LM head that also derives entropy and top-1
        accuracy per token; on CPU that kernel took ~60% of each step. Here the loss goes through
        transformers' plain Trainer path (which keeps gradient-accumulation and multi-process
        scaling right) with `tail_loss` on left-aligned rows: same loss values, a fraction of the work.
        The call still goes through the (possibly DDP-wrapped) model, so gradients synchronise. With a
        `layer_replay`, a batch seen before skips the frozen layers below LoRA's (layer_replay.py).
        """

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.compute_loss_func = tail_loss
            self.row_digests: list[str] = []
            self.layer_replay: Any = None  # a layer_replay.LayerReplay once train() sets one

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            # Digests name the rows trained on, and let layer replay find a batch it has seen.
            digests = row_digests(inputs) if model.training or self.layer_replay else []
            if model.training:
                self.row_digests += digests
            inputs = left_align(inputs)
            replay = (
                self.layer_replay.around(inputs, digests) if self.layer_replay else contextlib.nullcontext()
            )
            with replay:
                return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    return CompletionLossTrainer
