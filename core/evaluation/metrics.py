"""Metric helpers shared by scenarios (text overlap, classification); scenarios pick and combine them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np


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


def corpus_bleu_resampled(
    predictions: Sequence[str], references: Sequence[str], idx: np.ndarray
) -> np.ndarray:
    """corpus_bleu on every bootstrap resample (a row of idx) at once: each resample's n-gram
    statistics are its rows' statistics weighted by how often each row was drawn."""
    stats = [_bleu_stats(p, r) for p, r in zip(predictions, references, strict=True)]
    table = np.array([[*correct, *total, sys_len, ref_len] for correct, total, sys_len, ref_len in stats])
    sums = resample_counts(idx, len(stats)) @ table
    return np.array(
        [
            _bleu()
            .compute_bleu(
                s[:4].tolist(),
                s[4:8].tolist(),
                int(s[8]),
                int(s[9]),
                smooth_method="exp",
                effective_order=False,
            )
            .score
            / 100.0
            for s in sums
        ]
    )


def resample_counts(idx: np.ndarray, rows: int) -> np.ndarray:
    """How many times each row was drawn in each resample: a (resamples x rows) count matrix."""
    flat = idx + rows * np.arange(idx.shape[0])[:, None]
    return np.bincount(flat.ravel(), minlength=idx.shape[0] * rows).reshape(idx.shape[0], rows)


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


def macro_f1_resampled(predicted: Sequence[Any], gold: Sequence[Any], idx: np.ndarray) -> np.ndarray:
    """macro_f1 over each resample's own gold labels, on every resample (a row of idx) at once.

    Per label, F1 = 2 x hits / (gold count + predicted count) (sklearn's formula, 0 when both are 0);
    the counts of a resample are its rows' indicator vectors weighted by how often each was drawn.
    """
    labels = sorted(set(gold))
    is_gold = np.array([[g == label for label in labels] for g in gold], dtype=float)
    is_predicted = np.array([[p == label for label in labels] for p in predicted], dtype=float)
    counts = resample_counts(idx, len(gold))
    support, chosen, hits = counts @ is_gold, counts @ is_predicted, counts @ (is_gold * is_predicted)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(support + chosen > 0, 2 * hits / (support + chosen), 0.0)
    present = support > 0
    return (f1 * present).sum(axis=1) / present.sum(axis=1)


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
