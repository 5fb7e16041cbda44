"""The intents a text classifier fitted on the training tickets finds most likely, put into each prompt.

A 135M model fine-tuned on a few rows per intent confuses intents that a character n-gram classifier
separates well (support sample, test rows: TF-IDF + logistic regression 0.700 intent accuracy,
the tuned model alone 0.578). The prompt names the classifier's top intents and the model chooses,
so it can still overrule them. Training rows get the ranking of a classifier that did not see them
(out of fold, threads kept whole), so the model learns how far the hints are to be trusted as they
will be on new tickets, not to copy a hint that always holds its own label.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

FOLDS = 5


class IntentHints:
    """Ranks the training intents for a ticket's text; `ranked` holds the out-of-fold ranking of
    every training text, so a training row is never hinted by a classifier that saw it."""

    def __init__(self, texts: Sequence[str], intents: Sequence[str], groups: Sequence[str], k: int):
        from sklearn.model_selection import GroupKFold

        self.k = k
        self.model = _fitted(texts, intents)
        self.ranked: dict[str, list[str]] = {}
        folds = min(FOLDS, len(set(groups)))
        if folds < 2:
            return
        for seen, unseen in GroupKFold(n_splits=folds).split(texts, intents, groups):
            held = [texts[i] for i in unseen]
            if len({intents[i] for i in seen}) < 2:  # one intent left: no ranking to learn
                self.ranked.update((text, []) for text in held)
                continue
            model = _fitted([texts[i] for i in seen], [intents[i] for i in seen])
            self.ranked.update(zip(held, _top(model, held, k), strict=True))

    def for_text(self, text: str) -> list[str]:
        """The out-of-fold ranking for a training text, the full classifier's for any other."""
        if text in self.ranked:
            return self.ranked[text]
        return _top(self.model, [text], self.k)[0]


@functools.lru_cache(maxsize=4)
def fitted_hints(
    texts: tuple[str, ...], intents: tuple[str, ...], groups: tuple[str, ...], k: int
) -> IntentHints:
    """The hints for these training rows, fitted once per process (six fits, ~6 s on 324 tickets on a
    2-core CPU): a run's validation, report and `generate` rebuild the same context."""
    return IntentHints(texts, intents, groups, k)


def _fitted(texts: Sequence[str], intents: Sequence[str]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True),
        LogisticRegression(C=10, max_iter=2000),
    )
    return model.fit(list(texts), list(intents))


def _top(model: Any, texts: list[str], k: int) -> list[list[str]]:
    import numpy as np

    classes = model.classes_
    order = np.argsort(-model.predict_proba(texts), axis=1, kind="stable")[:, :k]
    return [[str(classes[j]) for j in row] for row in order]
