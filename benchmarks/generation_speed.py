"""Evaluation generation: scenario-pack's batched evaluator against `generate` one prompt at a time.

    python benchmarks/generation_speed.py [--prompts 32] [--precision auto|bf16|fp32]

Same model, same prompts (the support sample's held-out tickets, rendered with the scenario's
template), greedy decoding, the support scenario's answer budget, one process. Printed: new tokens
per second for each side, the ratio, and the share of prompts whose answers are identical (expect
all in fp32; in bf16 a padded batch rounds differently and greedy answers drift apart after a
near-tie). Both sides use the same model under the same precision (bf16 autocast or fp32).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import default_model, machine, support_examples, table  # noqa: E402


def one_at_a_time(model: Any, tokenizer: Any, examples: list[Any], budget: int, precision: str) -> list[str]:
    """What a user writes first: render, encode and `generate` each prompt on its own (KV cache on)."""
    import torch

    from scenario_pack.core import generation

    answers = []
    for prompt in generation.render_prompts(tokenizer, examples):
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
        with torch.inference_mode(), generation.autocast(precision, model.device.type):
            out = model.generate(
                **ids, max_new_tokens=budget, do_sample=False, pad_token_id=tokenizer.eos_token_id
            )
        answers.append(tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32, help="held-out support tickets to answer")
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    args = parser.parse_args()

    from scenario_pack.core import generation, hardware

    hardware.cap_onednn_cache()  # as the `scenario` command does (memory only; same speed)
    precision = hardware.choose_precision(args.precision)
    run_config, splits = support_examples()
    examples = splits["test"][: args.prompts]
    budget, batch_size = run_config["eval"]["max_new_tokens"], run_config["eval"]["batch_size"]
    tokenizer, model, _ = default_model()
    model.eval()
    print(f"machine: {machine()}; precision {precision}; {len(examples)} prompts, up to {budget} new tokens")

    start = time.perf_counter()
    batched = [
        text for text, _ in generation.generate(model, tokenizer, examples, budget, batch_size, precision)
    ]
    batched_seconds = time.perf_counter() - start
    start = time.perf_counter()
    single = one_at_a_time(model, tokenizer, examples, budget, precision)
    single_seconds = time.perf_counter() - start

    def new_tokens(answers: list[str]) -> int:
        return sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)

    rows = []
    for side, answers, seconds in (
        ("one prompt at a time", single, single_seconds),
        (f"scenario-pack (batches of {batch_size}, sorted by length)", batched, batched_seconds),
    ):
        count = new_tokens(answers)
        rows.append([side, count, f"{seconds:.1f}", f"{count / seconds:.1f}"])
    print(table(["side", "new tokens", "seconds", "new tokens/s"], rows))
    same = sum(a == b for a, b in zip(single, batched, strict=True))
    speed = (new_tokens(batched) / batched_seconds) / (new_tokens(single) / single_seconds)
    print(
        f"scenario-pack / one at a time: {speed:.1f}x new tokens/s; identical answers: {same}/{len(examples)}"
    )


if __name__ == "__main__":
    main()
