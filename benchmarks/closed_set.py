"""Closed-set intents: decoding along the prefix tree of the labels against ranking the labels by likelihood.

Two ways to make every model choose its intent from the labels a run knows (issue 23):
- prefix tree: greedy decoding whose first tokens must follow one of the label starts ("Intent: X
  \\nReply:"), what `scenario run` does (core/evaluation/generation.py);
- likelihood ranking: the sum of the log-probabilities of each label start after the prompt, highest
  wins, as lm-evaluation-harness scores multiple choice (`acc`; `acc_norm` divides by the start's
  length in characters). The prompt is run once and its KV cache shared by every label;
- the same ranking calibrated (Zhao et al., 2021): each label's log-probability after the row's
  prompt minus its mean after three content-free prompts ("N/A", "", "[MASK]" as the ticket), which
  removes the model's prior for a label; plain prompts only.
A reference that is not a language model closes the table: logistic regression on TF-IDF character
2-5-grams of the tickets, fitted on the same training rows (what the rows allow a simple classifier).

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
    answers = generation.generate(model, tokenizer, examples, longest, 16, precision, starts=starts)
    return [text for text, _ in answers]


def label_logprobs(
    model: Any, tokenizer: Any, examples: list, starts: list[str], precision: str
) -> list[Any]:
    """Each row's summed log-probability of every start after its prompt (the prompt is run once and
    its KV cache shared by every start)."""
    import torch

    from scenario_pack.core.evaluation import generation

    model = generation.inference_model(model, precision)
    device = next(model.parameters()).device
    candidates = [tokenizer(s, add_special_tokens=False)["input_ids"] for s in starts]
    width = max(len(c) for c in candidates)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([c + [pad] * (width - len(c)) for c in candidates], device=device)
    real = torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in candidates], device=device)
    totals = []
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
        totals.append(logp.sum(1).cpu())
    return totals


def content_free(prepared: Any) -> list[Any]:
    """Plain prompts whose ticket is content-free ("N/A", "", "[MASK]") and other text fields empty: what
    a model says with no ticket, the prior that contextual calibration (Zhao et al., 2021) divides out."""
    scenario, row = prepared.scenario, prepared.test[0]
    blank = {k: "" if isinstance(v, str) and k != scenario.label_field else v for k, v in row.items()}
    return [
        scenario.format({**blank, scenario.input_field: text}, prepared.context)
        for text in ("N/A", "", "[MASK]")
    ]


def text_classifier(prepared: Any, rows: int) -> list[str]:
    """Reference, not a language model: logistic regression on TF-IDF character 2-5-grams of each
    ticket's subject and text, fitted on the training and validation rows (scikit-learn)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def text(row: dict[str, Any]) -> str:
        return f"{row.get('subject') or ''} {row['ticket']}"

    seen = prepared.train + prepared.val
    features = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    classifier = LogisticRegression(C=10, max_iter=2000)
    classifier.fit(features.fit_transform([text(r) for r in seen]), [r["intent"] for r in seen])
    return list(classifier.predict(features.transform([text(r) for r in prepared.test[:rows]])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=90, help="held-out support tickets")
    parser.add_argument("--run", type=Path, help="a support run folder: also compare its tuned model")
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    args = parser.parse_args()

    import torch

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
    chars = torch.tensor([len(s) for s in starts], dtype=torch.float32)
    print(f"machine: {machine()}; precision {precision}; {len(truth)} held-out rows, {len(starts)} intents")
    print(f"{'model':<14}{'method':<30}{'accuracy':>9}{'seconds':>9}")

    def intent_of(start: str) -> str:
        return scenario.parse(start, context)["intent"]

    def show(name: str, method: str, chosen: list[str], seconds: float) -> None:
        accuracy = sum(c == t for c, t in zip(chosen, truth, strict=True)) / len(truth)
        print(f"{name:<14}{method:<30}{accuracy:>9.3f}{seconds:>9.1f}")

    for name, net, examples in models:
        began = time.perf_counter()
        tree = [intent_of(text) for text in prefix_tree(net, tokenizer, examples, starts, precision)]
        show(name, "prefix tree", tree, time.perf_counter() - began)
        began = time.perf_counter()
        totals = label_logprobs(net, tokenizer, examples, starts, precision)
        seconds = time.perf_counter() - began

        def best(scores: list[Any]) -> list[str]:
            return [intent_of(starts[int(row.argmax())]) for row in scores]

        show(name, "likelihood (acc)", best(totals), seconds)
        show(name, "likelihood (acc_norm)", best([t / chars for t in totals]), seconds)
        if examples is plain:  # a content-free few-shot prompt would need its own shots: not measured
            began = time.perf_counter()
            prior = torch.stack(label_logprobs(net, tokenizer, content_free(prepared), starts, precision))
            calibrated = best([t - prior.mean(0) for t in totals])
            show(name, "likelihood, calibrated", calibrated, seconds + time.perf_counter() - began)
    began = time.perf_counter()
    show(
        "reference",
        "tf-idf + logistic regression",
        text_classifier(prepared, args.rows),
        time.perf_counter() - began,
    )


if __name__ == "__main__":
    main()
