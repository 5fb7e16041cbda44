"""Brand content: blog posts, newsletters and social posts written in one brand's voice.

Scored on how much a text reads like the brand (a classifier whose own ROC AUC is reported),
whether it fits its platform's rules, keyword coverage, readability against the brand's own, and
overlap with the brand's real text.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenario_pack.core.errors import DataIssue, ScenarioPackError, data_error
from scenario_pack.core.evaluation.metrics import rouge_l
from scenario_pack.core.plugins.scenario import (
    Field,
    Metric,
    PromptTemplate,
    Scenario,
    Scored,
    load_template,
    mean_of,
    mean_seconds,
)

from . import report_tables, rules, style, voice
from .importers import importers

PACKAGE = Path(__file__).parent
NEGATIVE_BRIEFS = 60  # training briefs the base model answers when no off-brand texts are given
MIN_OFF_BRAND = 10  # half fit the voice score, half check it


@dataclass
class ContentContext:
    """What content learns from the training rows: the voice classifier and the brand's readability."""

    rules: rules.Rules
    rules_path: Path
    voice: voice.BrandVoice | None  # None until complete_context, when the base model's answers stand in
    off_brand_path: Path  # the file given, or the one looked for beside --data
    off_brand_source: str  # where the voice score's off-brand texts came from, as the report says it
    off_brand_total: int
    brand_ease: dict[str, float]  # mean Flesch reading ease of the brand's training texts, per type
    types: list[str]
    settings: dict[str, Any]


class ContentScenario(Scenario):
    # -- declared data -------------------------------------------------------------------
    def template_for(self, row: dict[str, Any]) -> PromptTemplate:
        own = PACKAGE / "templates" / f"{row['type']}.yaml"
        return load_template(own if own.exists() else PACKAGE / "template.yaml")

    def templates(self) -> list[PromptTemplate]:
        return [
            load_template(p)
            for p in [PACKAGE / "template.yaml", *sorted((PACKAGE / "templates").glob("*.yaml"))]
        ]

    # -- hooks ---------------------------------------------------------------------------
    def check_row(self, row: dict[str, Any]) -> list[tuple[str, str, str]]:
        keywords = row.get("keywords")
        if keywords is not None and not all(isinstance(k, str) and k.strip() for k in keywords):
            return [
                ("keywords", "must be a list of non-empty strings", 'Write e.g. ["repotting", "peat-free"].')
            ]
        return []

    def build_context(
        self, train_rows: list[dict[str, Any]], settings: dict[str, Any], data_path: Path
    ) -> ContentContext:
        """Fit the voice score on the off-brand file when there is one (an --off-brand FILE that is
        missing is an error); without one, `complete_context` fits it on the base model's answers."""
        rules_path = rules.rules_path(settings.get("rules"))
        given = settings.get("off_brand")
        off_path = Path(given) if given else data_path.parent / "off_brand.jsonl"
        brand_voice, source, total = None, "", 0
        if given or off_path.is_file():
            off_brand = voice.load_off_brand(off_path)
            brand_voice = voice.fit([row["text"] for row in train_rows], off_brand, seed=0)
            source, total = f"{off_path}, {len(off_brand)} texts", len(off_brand)
        elif len(train_rows) < MIN_OFF_BRAND:
            raise data_error(
                data_path,
                None,
                None,
                f"no off-brand texts ({off_path} not found) and only {len(train_rows)} training rows, too "
                f"few for the base model's answers to stand in ({MIN_OFF_BRAND} or more are needed)",
                "Pass --off-brand FILE (JSON Lines with a 'text' field, texts on the brand's topics in other "
                "voices; 40 or more), or give more rows.",
            )
        ease: dict[str, list[float]] = {}
        for row in train_rows:
            value = style.reading_ease(row["text"])
            if not math.isnan(value):
                ease.setdefault(row["type"], []).append(value)
        return ContentContext(
            rules=rules.load(rules_path),
            rules_path=rules_path,
            voice=brand_voice,
            off_brand_path=off_path,
            off_brand_source=source,
            off_brand_total=total,
            brand_ease={kind: statistics.mean(values) for kind, values in ease.items()},
            types=sorted({row["type"] for row in train_rows}),
            settings=settings,
        )

    def context_notes(self, context: ContentContext) -> list[str]:
        if context.voice is not None:
            return []
        return [
            f"no off-brand texts ({context.off_brand_path} not found): the run will use the base model's own "
            f"answers to up to {NEGATIVE_BRIEFS} training briefs as the brand-voice score's other voices; to "
            "use real ones, put off_brand.jsonl beside --data or pass --off-brand FILE."
        ]

    def complete_context(
        self,
        context: ContentContext,
        train_rows: list[dict[str, Any]],
        generate: Callable[[list[dict[str, Any]]], list[str]],
    ) -> None:
        """Without off-brand texts, the base model's own answers to training briefs are the other voice:
        a stand-in the report names, because the score then learns what the untuned model sounds like."""
        if context.voice is not None:
            return
        briefs = random.Random(0).sample(train_rows, min(NEGATIVE_BRIEFS, len(train_rows)))
        answers = [text for text in (self.parse(a, context)["text"] for a in generate(briefs)) if text]
        if len(answers) < MIN_OFF_BRAND:
            raise ScenarioPackError(
                f"the base model gave {len(answers)} non-empty answers to {len(briefs)} training briefs; the "
                f"brand-voice score needs {MIN_OFF_BRAND} or more off-brand texts. Pass --off-brand FILE "
                "(JSON Lines with a 'text' field, texts on the brand's topics in other voices; 40 or more)."
            )
        context.voice = voice.fit([row["text"] for row in train_rows], answers, seed=0)
        context.off_brand_source = f"base model's own answers to {len(briefs)} training briefs"
        context.off_brand_total = len(answers)

    def check_rows(self, rows: list[dict[str, Any]], context: ContentContext, source: str) -> list[DataIssue]:
        issues = []
        for row in rows:
            kind, platform = row["type"], row.get("platform")
            if kind not in context.rules:
                issues.append(
                    DataIssue(
                        source,
                        row.get("_line"),
                        "type",
                        f"content type '{kind}' has no entry in the rules file {context.rules_path}",
                        f"Use one of {', '.join(context.rules)}, or add '{kind}' to a rules file "
                        "passed with --rules.",
                    )
                )
            elif rules.for_row(context.rules, kind, platform) is None:
                known = ", ".join(p for p in context.rules[kind] if p != "default")
                issues.append(
                    DataIssue(
                        source,
                        row.get("_line"),
                        "platform",
                        f"{kind} platform {platform!r} has no rules in {context.rules_path}",
                        f"Use one of {known}, or add it to a rules file passed with --rules.",
                    )
                )
            elif kind not in context.types:
                issues.append(
                    DataIssue(
                        source,
                        row.get("_line"),
                        "type",
                        f"content type '{kind}' never occurs in the training rows",
                        "Add training rows of this type or drop it from the test rows.",
                    )
                )
        return issues

    def values(self, row: dict[str, Any], context: ContentContext) -> dict[str, Any]:
        return {
            "brand": context.settings["brand"],
            "type": row["type"],
            "platform": row.get("platform") or "",
            "brief": row["brief"].strip(),
            "keywords": row.get("keywords") or [],
            "audience": row.get("audience") or "",
            "constraints": rules.describe(rules.of_row(context.rules, row)),
            "text": (row.get("text") or "").strip(),
        }

    def max_new_tokens(self, row: dict[str, Any], context: ContentContext, default: int) -> int:
        """The rules' budget for the row's type and platform, capped by eval.max_new_tokens."""
        return min(int(rules.of_row(context.rules, row).get("max_new_tokens", default)), default)

    def score(self, parsed: dict[str, Any], row: dict[str, Any], context: ContentContext) -> dict[str, float]:
        text = parsed["text"]
        scores = {
            "brand_voice": context.voice.score([text])[0],
            "constraints_ok": float(not rules.check(text, rules.of_row(context.rules, row))),
            "rouge_l": rouge_l(text, row["text"]),
        }
        coverage = style.keyword_coverage(text, row.get("keywords") or [])
        ease = style.reading_ease(text)
        if not math.isnan(coverage):
            scores["keyword_coverage"] = coverage
        if not math.isnan(ease) and row["type"] in context.brand_ease:
            scores["readability_gap"] = abs(ease - context.brand_ease[row["type"]])
        return scores

    def details(
        self, base: Sequence[Scored], tuned: Sequence[Scored], context: ContentContext
    ) -> dict[str, Any]:
        return report_tables.details(base, tuned, context)

    def context_summary(self, context: ContentContext) -> dict[str, Any]:
        return report_tables.context_summary(context)


scenario = ContentScenario(
    name="content",
    description="Brand content: blog posts, emails and social posts in the brand's voice, within "
    "platform rules.",
    version="1.0",
    package_dir=PACKAGE,
    fields=(
        Field("type", str, "content type: blog, email, social (more with a --rules file)"),
        Field("brief", str, "the brief or topic the text was written for", free_text=True),
        Field("text", str, "the published text in the brand's voice", free_text=True),
        Field("platform", str, "x, instagram, linkedin for social; blog or email otherwise", required=False),
        Field("keywords", list, "target keywords or phrases the text should use", required=False),
        Field("audience", str, "who the text is for", required=False, nonempty=False),
        Field("id", str, "row id", required=False, unique=True),
    ),
    input_field="brief",
    target_fields=("text",),
    label_field="type",
    group_field="type",
    slice_fields=("type", "platform"),
    example_score="brand_voice",
    importers=importers,
    option_help={
        "brand": "brand name used in the instructions",
        "off_brand": "JSON Lines of off-brand texts (same topics, other voices); default: off_brand.jsonl "
        "beside --data, else the base model's own answers to training briefs",
        "rules": "platform rules YAML (see platform_rules.yaml); default: the shipped rules",
    },
    metrics=(
        Metric(
            "brand_voice",
            "higher",
            "mean probability, from the brand-voice classifier, that a text is in the brand's voice "
            "(its ROC AUC on held-out texts is in the Brand-voice check table)",
            mean_of("brand_voice"),
            primary=True,
        ),
        Metric(
            "constraint_pass_rate",
            "higher",
            "share of texts that keep every rule of their type and platform (length, hashtags, "
            "subject line, title and headings)",
            mean_of("constraints_ok"),
        ),
        Metric(
            "keyword_coverage",
            "higher",
            "share of the brief's keywords present in the text (lower-cased Porter stems, contiguous)",
            mean_of("keyword_coverage"),
        ),
        Metric(
            "readability_gap",
            "lower",
            "distance in Flesch reading ease (textstat) from the brand's own mean for the same type",
            mean_of("readability_gap"),
            range=None,
        ),
        Metric(
            "reference_rouge_l",
            "higher",
            "ROUGE-L F1 against the brand's real text for the brief (stemmed); secondary",
            mean_of("rouge_l"),
        ),
        Metric(
            "seconds_per_answer",
            "lower",
            "seconds from its batch's start to the text's last token (batched, this machine)",
            mean_seconds,
            range=None,
        ),
    ),
)
