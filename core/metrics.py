"""Metric helpers shared by scenarios (text overlap, classification); scenarios pick and combine them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _rouge() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (rouge-score, Porter stemming), in [0, 1]."""
    if not prediction.strip() or not reference.strip():
        return 0.0
    return float(_rouge().score(reference, prediction)["rougeL"].fmeasure)


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu defaults, 13a tokenisation), scaled to [0, 1]."""
    import sacrebleu

    if not predictions:
        return float("nan")
    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score) / 100.0


def accuracy(predicted: Sequence[Any], gold: Sequence[Any]) -> float:
    if not gold:
        return float("nan")
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)


def macro_f1(predicted: Sequence[Any], gold: Sequence[Any], labels: Sequence[Any]) -> float:
    """Macro-F1 over the known labels (predictions outside them count as errors for their gold label)."""
    from sklearn.metrics import f1_score

    if not gold:
        return float("nan")
    return float(f1_score(list(gold), list(predicted), labels=list(labels), average="macro", zero_division=0))


def per_label_f1(
    predicted: Sequence[Any], gold: Sequence[Any], labels: Sequence[Any]
) -> dict[str, dict[str, float]]:
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(
        list(gold), list(predicted), labels=list(labels), zero_division=0
    )
    return {
        str(label): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, label in enumerate(labels)
    }
