"""How a support answer is scored beyond ROUGE-L: grounding in the retrieved docs, and the
corpus-level intent and reply metrics with their every-resample-at-once forms for the bootstrap."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scenario_pack.core.evaluation.metrics import (
    accuracy,
    corpus_bleu,
    corpus_bleu_resampled,
    macro_f1,
    macro_f1_resampled,
)
from scenario_pack.core.plugins.scenario import Scored

from . import retrieval


def grounded(reply: str, passages: Sequence[retrieval.Passage], ticket: str) -> bool:
    """True when the reply states a fact from the retrieved docs that the ticket did not already contain.

    A fact is a number (e.g. "30", "$6.50", "3-5") or a word trigram with at least two content words,
    found in the passages and absent from the ticket, so echoing the customer does not count.
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    def facts(text: str) -> set[tuple[str, ...]]:
        toks = retrieval.tokens(text)
        numbers = {(t,) for t in toks if t[0].isdigit() or t[0] == "$"}
        trigrams = {tuple(toks[i : i + 3]) for i in range(len(toks) - 2)}
        content = {g for g in trigrams if sum(w not in ENGLISH_STOP_WORDS for w in g) >= 2}
        return numbers | content

    doc_facts = set().union(*(facts(p.text) for p in passages)) if passages else set()
    return bool((facts(reply) & doc_facts) - facts(ticket))


def _intents(examples: Sequence[Scored]) -> tuple[list[str], list[str]]:
    return [ex.parsed["intent"] for ex in examples], [ex.row["intent"] for ex in examples]


def intent_accuracy(examples: Sequence[Scored]) -> float:
    return accuracy(*_intents(examples))


def intent_macro_f1(examples: Sequence[Scored]) -> float:
    predicted, gold = _intents(examples)
    return macro_f1(predicted, gold, sorted(set(gold)))


def intent_macro_f1_resampled(examples: Sequence[Scored], idx: Any) -> Any:
    return macro_f1_resampled(*_intents(examples), idx)


def _replies(examples: Sequence[Scored]) -> tuple[list[str], list[str]]:
    return [ex.parsed["reply"] for ex in examples], [ex.row["response"] for ex in examples]


def reply_bleu(examples: Sequence[Scored]) -> float:
    return corpus_bleu(*_replies(examples))


def reply_bleu_resampled(examples: Sequence[Scored], idx: Any) -> Any:
    return corpus_bleu_resampled(*_replies(examples), idx)
