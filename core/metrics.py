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


@lru_cache(maxsize=1)
def _chrf() -> Any:
    from sacrebleu.metrics import CHRF

    return CHRF()


def chrf(prediction: str, reference: str) -> float:
    """chrF (sacrebleu defaults: character 6-grams, recall weighted by beta 2), in [0, 1].

    Character n-grams need no tokeniser for code, and on code chrF follows programmers' own grading
    more closely than BLEU does (Evtikhiev et al. 2023, "Out of the BLEU").
    """
    if not prediction.strip() or not reference.strip():
        return 0.0
    return float(_chrf().sentence_score(prediction, [reference]).score) / 100.0


@lru_cache(maxsize=1)
def _bleu() -> Any:
    from sacrebleu.metrics import BLEU

    return BLEU(effective_order=True)  # only silences a sentence-level warning: n-gram counts are identical


@lru_cache(maxsize=65536)
def _bleu_stats(prediction: str, reference: str) -> tuple[tuple[int, ...], tuple[int, ...], int, int]:
    score = _bleu().sentence_score(prediction, [reference])
    return tuple(score.counts), tuple(score.totals), score.sys_len, score.ref_len


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu defaults, 13a tokenisation), scaled to [0, 1].

    Computed from per-sentence n-gram statistics, summed: the same number as sacrebleu's
    corpus_bleu, but each sentence is tokenised once, so bootstrap resamples are cheap.
    """
    if not predictions:
        return float("nan")
    stats = [_bleu_stats(p, r) for p, r in zip(predictions, references, strict=True)]
    correct = [sum(s[0][i] for s in stats) for i in range(4)]
    total = [sum(s[1][i] for s in stats) for i in range(4)]
    sys_len, ref_len = sum(s[2] for s in stats), sum(s[3] for s in stats)
    return (
        float(
            _bleu()
            .compute_bleu(correct, total, sys_len, ref_len, smooth_method="exp", effective_order=False)
            .score
        )
        / 100.0
    )


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
