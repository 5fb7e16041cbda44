"""The content report's own tables: how far the brand-voice score can be trusted, and which
platform rules the models' texts broke."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scenario_pack.core.plugins.scenario import Scored

from . import rules

if TYPE_CHECKING:
    from . import ContentContext

LOW_AUC = 0.7  # below this the score hardly tells the brand's voice from the others


def details(base: Sequence[Scored], tuned: Sequence[Scored], context: ContentContext) -> dict[str, Any]:
    """The brand-voice check (can the score tell voices apart at all?), its negatives, and the
    platform rules each model's texts broke."""
    references = [ex.row["text"] for ex in base]
    off = context.voice.held_out_off_brand
    auc = context.voice.auc(references)
    mean = statistics.mean
    check = {
        "columns": ["texts", "count", "mean brand-voice score"],
        "rows": [
            [
                "held-out brand texts (test references)",
                len(references),
                mean(context.voice.score(references)),
            ],
            [
                f"held-out off-brand texts ({context.off_brand_source})",
                len(off),
                mean(context.voice.score(off)) if off else None,
            ],
            ["base model outputs", len(base), mean(ex.scores["brand_voice"] for ex in base)],
            ["tuned model outputs", len(tuned), mean(ex.scores["brand_voice"] for ex in tuned)],
            ["ROC AUC, brand vs off-brand (held out)", len(references) + len(off), auc],
        ],
    }
    failures: Counter[tuple[str, str, str]] = Counter()
    for name, runs in (("base", base), ("tuned", tuned)):
        for ex in runs:
            for reason in rules.check(ex.parsed["text"], rules.of_row(context.rules, ex.row)):
                failures[(_where(ex.row), rules.rule_broken(reason), name)] += 1
    keys = sorted({(where, rule) for where, rule, _ in failures})
    broken = {
        "columns": ["type/platform", "rule broken", "base outputs", "tuned outputs"],
        "rows": [[w, r, failures[(w, r, "base")], failures[(w, r, "tuned")]] for w, r in keys],
    }
    if auc is None:
        reading = "no AUC: too few held-out texts to check the score"
    elif auc < LOW_AUC:
        reading = (
            f"below {LOW_AUC}: the score cannot tell the voices apart well, so brand_voice says little. "
            "Give --off-brand FILE: 40 or more texts on the brand's topics in other voices"
        )
    else:
        reading = "the score tells the brand's voice from these texts"
    negatives = {
        "columns": ["off-brand texts", "held-out ROC AUC", "what it means"],
        "rows": [[context.off_brand_source, auc, reading]],
    }
    return {
        "Brand-voice check": check,
        "Brand-voice negatives": negatives,
        "Platform rules broken": broken,
    }


def context_summary(context: ContentContext) -> dict[str, Any]:
    """What the voice score was fitted on and the brand's own reading ease, as the report says it."""
    held = len(context.voice.held_out_off_brand)
    return {
        "brand": context.settings["brand"],
        "content types": ", ".join(context.types),
        "platform rules": str(context.rules_path),
        "off-brand texts (brand-voice negatives)": context.off_brand_source,
        "brand-voice classifier": (
            "TF-IDF word 1-2-grams + character 2-4-grams, logistic regression; fitted on the training "
            f"brand texts and {context.off_brand_total - held} of {context.off_brand_total} off-brand "
            f"texts, the other {held} kept back for its ROC AUC"
        ),
        "brand reading ease (Flesch, training texts)": ", ".join(
            f"{kind} {value:.1f}" for kind, value in sorted(context.brand_ease.items())
        ),
    }


def _where(row: dict[str, Any]) -> str:
    platform = row.get("platform")
    return f"{row['type']}/{platform}" if platform and platform != row["type"] else row["type"]
