"""Training speed: scenario-pack's trainer against TRL's SFTTrainer with its default settings.

    python benchmarks/train_speed.py [--rows 64] [--precision auto|bf16|fp32]

Both sides fine-tune the default model with the same LoRA adapter, learning rate, schedule, batch
size and seed on the same support-sample rows, each in its own process (so each has its own peak
memory). TRL keeps its defaults for everything that decides speed and memory: gradient
checkpointing on, its loss computation, its batching, bf16 where the CPU has bf16 units (a user
on an AVX2-only CPU must turn its default bf16 off, or it refuses to start). Printed per side: real
(non-padding) tokens per second, peak memory, the mean training loss over the same rows, the loss
on 32 held-out rows afterwards (same function for both), and model FLOPs utilisation against a
dense matmul measured here in the same dtype.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    default_model,
    machine,
    matmul_peak_gflops,
    run_side,
    support_examples,
    table,
)

SIDES = ("trl-defaults", "scenario-pack")


def encode(tokenizer: Any, example: Any) -> tuple[list[int], int]:
    """Token ids of a whole training example and the length of its prompt, as the trainer builds them."""

    def ids(encoded: Any) -> list[int]:
        return encoded["input_ids"] if hasattr(encoded, "keys") else encoded

    full = [*example.prompt, {"role": "assistant", "content": example.completion}]
    prompt = tokenizer.apply_chat_template(example.prompt, tokenize=True, add_generation_prompt=True)
    return ids(tokenizer.apply_chat_template(full, tokenize=True)), len(ids(prompt))


def token_lengths(tokenizer: Any, example: Any, max_length: int) -> tuple[int, int]:
    """(all tokens, completion tokens) of one training example after truncation to max_length."""
    full, prompt = encode(tokenizer, example)
    kept = min(len(full), max_length)
    return kept, max(0, kept - prompt)


def training_flops(
    model_config: Any, lengths: list[tuple[int, int]], lora_params: int, backward_layers: int
) -> float:
    """Model FLOPs of one LoRA epoch over these examples, from the model's shapes.

    Forward: 2 FLOPs per weight per token for every linear layer, causal attention scores and
    values (2 * 2 * hidden per attended position), and the LM head for completion tokens only (the
    loss needs no other logits). Backward through frozen weights needs input gradients only (the
    same FLOPs again, not twice), and only through the `backward_layers` top layers: with LoRA on
    the upper layers alone the backward pass stops below them. The adapter's own weights cost 6
    FLOPs per weight per token. Recomputation (gradient checkpointing) is not model work.
    """
    d, ff, layers = model_config.hidden_size, model_config.intermediate_size, model_config.num_hidden_layers
    kv = d * model_config.num_key_value_heads // model_config.num_attention_heads
    per_layer_token = 2 * (2 * d * d + 2 * d * kv + 3 * d * ff)
    total = 0.0
    for tokens, completion in lengths:
        per_layer = per_layer_token * tokens + 2 * d * tokens * (tokens + 1)  # attention: 4d per pair
        head = 2 * d * model_config.vocab_size * completion
        total += (layers + backward_layers) * per_layer + 2 * head + 6 * lora_params * tokens
    return total


def layers_with_backward(model: Any) -> int:
    """Layers the backward pass goes through: from the lowest one holding a trainable weight up."""
    from scenario_pack.core.training.layer_replay import decoder_layers, lowest_trained

    layers = model.config.num_hidden_layers
    return layers - (lowest_trained(decoder_layers(model)) or 0)


def held_out_loss(model: Any, tokenizer: Any, examples: list[Any]) -> float:
    """Mean completion-token loss on held-out rows, one row at a time in fp32 (no padding, no tricks)."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for example in examples:
            full, prompt = encode(tokenizer, example)
            ids = torch.tensor([full])
            labels = ids.clone()
            labels[0, :prompt] = -100
            loss = model(input_ids=ids, labels=labels).loss
            n = int((labels[0, 1:] != -100).sum())
            total, count = total + float(loss) * n, count + n
    return total / count


def trl_defaults(
    model: Any, tokenizer: Any, examples: list[Any], run_config: Any, source: str, out: Path, precision: str
):
    """TRL's SFTTrainer as a user would start it: defaults, plus the hyperparameters both sides share."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    from scenario_pack.core.training import trainer as training

    train = run_config.train
    args = SFTConfig(
        output_dir=str(out),
        bf16=precision == "bf16",  # TRL's default is True; a user must turn it off where bf16 is emulated
        use_cpu=True,  # transformers refuses bf16 on a CPU-only machine without it
        learning_rate=training.learning_rate(run_config),
        lr_scheduler_type="cosine",
        warmup_steps=train.warmup_ratio,
        per_device_train_batch_size=train.batch_size * train.grad_accum,  # the same 8 rows a step
        num_train_epochs=train.epochs,
        seed=run_config.run.seed,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(training.to_records(examples)),
        processing_class=tokenizer,
        peft_config=training.build_peft_config(run_config, source, model),  # the same layers as ours
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return trainer.model, int(trainer.state.num_input_tokens_seen), seconds, losses


def scenario_pack(
    model: Any, tokenizer: Any, examples: list[Any], run_config: Any, source: str, out: Path, precision: str
):
    from scenario_pack.core.training import trainer

    model, result = trainer.train(
        model, tokenizer, examples, [], run_config, source, out, precision, quiet=True
    )
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    return model, result.train_tokens, result.seconds, losses


def measure_side(side: str, rows: int, precision: str) -> dict[str, Any]:
    from scenario_pack.core.runtime import hardware
    from scenario_pack.core.runtime.environment import peak_memory_gib

    if side == "scenario-pack":
        hardware.cap_onednn_cache()  # as the `scenario` command does; TRL's side keeps the library default

    run_config, splits = support_examples()
    examples, held_out = splits["train"][:rows], splits["val"][:32]
    tokenizer, model, source = default_model()
    with tempfile.TemporaryDirectory() as out:
        trainer = trl_defaults if side == "trl-defaults" else scenario_pack
        model, tokens, seconds, losses = trainer(
            model, tokenizer, examples, run_config, source, Path(out), precision
        )
    lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    max_length = run_config.data.max_length
    lengths = [token_lengths(tokenizer, ex, max_length) for ex in examples]
    return {
        "side": side,
        "tokens": tokens,
        "seconds": seconds,
        "steps": len(losses),
        "mean_train_loss": sum(losses) / len(losses),
        "last_train_loss": losses[-1],
        "held_out_loss": held_out_loss(model, tokenizer, held_out),
        "flops": training_flops(model.config, lengths, lora, layers_with_backward(model)),
        "trainable": lora,
        "peak_gib": peak_memory_gib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64, help="training rows from the support sample")
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # one side, in a child process
    args = parser.parse_args()

    from scenario_pack.core.runtime import hardware

    precision = hardware.choose_precision(args.precision)
    if args.side:
        print(json.dumps(measure_side(args.side, args.rows, precision)))
        return
    print(f"machine: {machine()}; precision {precision}; {args.rows} support rows, default LoRA settings")
    results = [
        run_side(Path(__file__), ["--side", s, "--rows", str(args.rows), "--precision", precision])
        for s in SIDES
    ]
    peak = matmul_peak_gflops(precision)
    print(f"dense {precision} matmul (2048x2048) on this machine: {peak:.0f} GFLOPS")
    rows = []
    for r in results:
        rate = r["tokens"] / r["seconds"]
        mfu = r["flops"] / r["seconds"] / 1e9 / peak
        rows.append(
            [
                r["side"],
                r["steps"],
                f"{r['trainable']:,}",
                r["tokens"],
                f"{r['seconds']:.1f}",
                f"{rate:.0f}",
                f"{mfu:.0%}",
                f"{r['peak_gib']:.2f}",
                f"{r['mean_train_loss']:.4f}",
                f"{r['last_train_loss']:.4f}",
                f"{r['held_out_loss']:.4f}",
            ]
        )
    print(
        table(
            [
                "side",
                "steps",
                "trainable weights",
                "real tokens",
                "seconds",
                "tokens/s",
                "MFU",
                "peak GiB",
                "mean train loss",
                "last train loss",
                "held-out loss",
            ],
            rows,
        )
    )
    base, ours = results
    speed = (ours["tokens"] / ours["seconds"]) / (base["tokens"] / base["seconds"])
    print(
        f"scenario-pack / TRL defaults: {speed:.2f}x tokens/s, "
        f"{ours['peak_gib'] / base['peak_gib']:.2f}x peak memory, "
        f"held-out loss {ours['held_out_loss']:.4f} vs {base['held_out_loss']:.4f}"
    )


if __name__ == "__main__":
    main()
