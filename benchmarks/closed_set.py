"""Closed-set intents: decoding along the prefix tree of the labels against ranking the labels by likelihood.

Two ways to make every model choose its intent from the labels a run knows (issue 23):
- prefix tree: greedy decoding whose first tokens must follow one of the label starts ("Intent: X
  \\nReply:"), what `scenario run` does (core/evaluation/generation.py);
- likelihood ranking: the sum of the log-probabilities of each label start after the prompt, highest
  wins, as lm-evaluation-harness scores multiple choice (`acc`; `acc_norm` divides by the start's
  length in characters). The prompt is run once and its KV cache shared by every label.

For each model (the base model with the plain prompts, with 3-shot prompts, and the tuned model of
`--run`): accuracy of the chosen intent on the held-out rows of the support sample, and the seconds
spent choosing it, measured side by side in this script. Usage:

    python benchmarks/closed_set.py [--rows 90] [--run reports/support/RUN] [--precision auto]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import default_model, machine, support_prepared  # noqa: E402


def prefix_tree(model: Any, tokenizer: Any, examples: list, starts: list[str], precision: str) -> list[str]:
    """Each row's intent as constrained greedy decoding writes it (just long enough to finish a start)."""
    from scenario_pack.core.evaluation import generation

    longest = max(len(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in starts)
    answers = generation.generate(
        model, tokenizer, examples, longest, 16, precision, starts=starts, batch_tokens=16384
    )
    return [text for text, _ in answers]


def likelihood(
    model: Any, tokenizer: Any, examples: list, starts: list[str], precision: str
) -> tuple[list[str], list[str]]:
    """Each row's best start by summed log-probability (acc) and by log-probability per character."""
    import torch

    from scenario_pack.core.evaluation import generation

    model = generation.inference_model(model, precision)
    device = next(model.parameters()).device
    candidates = [tokenizer(s, add_special_tokens=False)["input_ids"] for s in starts]
    width = max(len(c) for c in candidates)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([c + [pad] * (width - len(c)) for c in candidates], device=device)
    real = torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in candidates], device=device)
    chars = torch.tensor([len(s) for s in starts], dtype=torch.float32)
    best, best_norm = [], []
    model.eval()
    for prompt in generation.render_prompts(tokenizer, examples):
        prompt_ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]], device=device)
        with torch.inference_mode(), generation.compute_context(model, precision, device.type):
            first = model(input_ids=prompt_ids, use_cache=True)
            cache = first.cache
            cache.batch_repeat_interleave(len(candidates))
            attention = torch.cat([torch.ones(len(candidates), prompt_ids.shape[1], device=device), real], 1)
            rest = model(input_ids=ids, attention_mask=attention.long(), cache=cache)
            logp = torch.cat([first.logits[:, -1:].expand(len(candidates), -1, -1), rest.logits[:, :-1]], 1)
            logp = logp.float().log_softmax(-1).gather(2, ids.unsqueeze(-1)).squeeze(-1) * real
        total = logp.sum(1).cpu()
        best.append(starts[int(total.argmax())])
        best_norm.append(starts[int((total / chars).argmax())])
    return best, best_norm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=90, help="held-out support tickets")
    parser.add_argument("--run", type=Path, help="a support run folder: also compare its tuned model")
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    args = parser.parse_args()

    from scenario_pack.core.evaluation.answers import few_shot_prompts
    from scenario_pack.core.reporting import results
    from scenario_pack.core.runs.run_folder import RunFolder
    from scenario_pack.core.runtime import hardware
    from scenario_pack.core.training import tuned

    hardware.cap_onednn_cache()
    precision = hardware.choose_precision(args.precision, hardware.detect())
    prepared = support_prepared()
    scenario, context = prepared.scenario, prepared.context
    starts = scenario.answer_starts(context)
    truth = [row["intent"] for row in prepared.test[: args.rows]]
    tokenizer, model, _ = default_model()
    plain = prepared.examples["test"][: args.rows]
    shots, _ = few_shot_prompts(prepared, tokenizer, model, 3)
    models = [("base", model, plain), ("base, 3-shot", model, shots[: args.rows])]
    if args.run:
        run = RunFolder(args.run)
        method = results.read(run.report_json).training.method
        models.append(("tuned", tuned.load_tuned(run.tuned(), method, default_model()[1]), plain))
    print(f"machine: {machine()}; precision {precision}; {len(truth)} held-out rows, {len(starts)} intents")
    print(f"{'model':<14}{'method':<24}{'accuracy':>9}{'seconds':>9}")
    for name, net, examples in models:

        def intent_of(start: str) -> str:
            return scenario.parse(start, context)["intent"]

        began = time.perf_counter()
        tree = [intent_of(text) for text in prefix_tree(net, tokenizer, examples, starts, precision)]
        tree_s = time.perf_counter() - began
        began = time.perf_counter()
        ranked, ranked_norm = likelihood(net, tokenizer, examples, starts, precision)
        rank_s = time.perf_counter() - began
        for method, chosen, seconds in (
            ("prefix tree", tree, tree_s),
            ("likelihood (acc)", [intent_of(s) for s in ranked], rank_s),
            ("likelihood (acc_norm)", [intent_of(s) for s in ranked_norm], rank_s),
        ):
            accuracy = sum(c == t for c, t in zip(chosen, truth, strict=True)) / len(truth)
            print(f"{name:<14}{method:<24}{accuracy:>9.3f}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
