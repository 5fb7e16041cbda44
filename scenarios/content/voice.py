"""The brand-voice score: a scikit-learn classifier of 'reads like the brand' versus other voices.

Fitted on the training split's brand texts against half of the off-brand texts; the other half is
kept back, so its ROC AUC on held-out brand texts versus held-out off-brand texts shows whether the
score can tell voices apart at all. Word and character n-grams capture vocabulary, phrasing and
punctuation habits rather than topic alone, because the off-brand texts share the brand's topics.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenario_pack.core.data import jsonl
from scenario_pack.core.errors import DataError, DataIssue, data_error


@dataclass
class BrandVoice:
    model: Any  # sklearn Pipeline
    held_out_off_brand: list[str]  # off-brand texts the classifier never saw

    def score(self, texts: list[str]) -> list[float]:
        """Probability that each text is in the brand's voice (0..1)."""
        if not texts:
            return []
        return [float(p) for p in self.model.predict_proba(texts)[:, 1]]

    def auc(self, held_out_brand: list[str]) -> float | None:
        """ROC AUC of the score on held-out brand texts versus held-out off-brand texts."""
        from sklearn.metrics import roc_auc_score

        if not held_out_brand or not self.held_out_off_brand:
            return None
        scores = self.score(held_out_brand + self.held_out_off_brand)
        labels = [1] * len(held_out_brand) + [0] * len(self.held_out_off_brand)
        return float(roc_auc_score(labels, scores))


def fit(brand_texts: list[str], off_brand_texts: list[str], seed: int) -> BrandVoice:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    shuffled = list(off_brand_texts)
    random.Random(seed).shuffle(shuffled)
    half = len(shuffled) // 2
    negatives, held_out = shuffled[:half], shuffled[half:]
    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, lowercase=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2, lowercase=False),
    )
    model = make_pipeline(features, LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000))
    model.fit(brand_texts + negatives, [1] * len(brand_texts) + [0] * len(negatives))
    return BrandVoice(model, held_out)


def load_off_brand(path: Path) -> list[str]:
    """Off-brand texts: JSON Lines with a non-empty 'text' field (other fields are ignored)."""
    if not path.is_file():
        raise data_error(
            path,
            None,
            None,
            "off-brand texts not found",
            "Check the path given to --off-brand (JSON Lines with a 'text' field, texts on the brand's "
            "topics in other voices; 40 or more), or leave it out to use the base model's own answers.",
        )
    texts: list[str] = []
    issues: list[DataIssue] = []
    for number, item in jsonl.values(path, jsonl.decode(path, path.read_bytes()), "Fix this line.", issues):
        text = item.get("text") if isinstance(item, dict) else None
        if not isinstance(text, str) or not text.strip():
            issues.append(
                DataIssue(str(path), number, "text", "missing or empty", "Give each line a 'text'.")
            )
            continue
        texts.append(text.strip())
    if issues:
        raise DataError(issues)
    if len(texts) < 10:
        raise data_error(
            path,
            None,
            None,
            f"only {len(texts)} off-brand texts; half train the voice score and half check it",
            "Give at least 10 (40 or more for a trustworthy check).",
        )
    return texts
