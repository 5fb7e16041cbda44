"""Customer support tickets: name the intent, then answer the customer, grounded in the product docs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenario_pack.core.errors import ConfigError, DataIssue
from scenario_pack.core.evaluation.metrics import per_label_f1, rouge_l
from scenario_pack.core.plugins.scenario import (
    Aggregate,
    Field,
    Metric,
    Scenario,
    Scored,
    mean_of,
    mean_seconds,
)

from . import retrieval, scores
from .importers import importers
from .intent_hints import IntentHints, fitted_hints

UNKNOWN = "unknown"
ROLES = ("customer", "agent")  # a thread's turns, alternating
TURN_FIX = 'Give each turn as {"role": "customer" or "agent", "text": "..."}.'
INTENT_LINE = re.compile(r"^\W*intent\W*[:=\-]\s*(.+)$", re.IGNORECASE | re.MULTILINE)
REPLY_MARK = re.compile(r"^\W*(reply|response|answer)\W*?[:=\-]\**\s*", re.IGNORECASE | re.MULTILINE)


@dataclass
class SupportContext:
    """What the support scenario learns from the training rows: its labels, a docs retriever and the
    classifier whose likeliest intents each prompt names."""

    intents: list[str]
    retriever: retrieval.Retriever | None
    docs_location: Path | None
    settings: dict[str, Any]
    hints: IntentHints | None = None


def _hint_count(settings: dict[str, Any]) -> int:
    """`intent_hints` as a count; runs made before hints existed have none and stay as trained."""
    value = settings.get("intent_hints") or 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"scenario.intent_hints is {value!r}: give how many likely intents each prompt names, "
            "a whole number (0 for none), e.g. --set scenario.intent_hints=3."
        )
    return value


def normalise_label(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


class SupportScenario(Scenario):
    def check_row(self, row: dict[str, Any]) -> list[tuple[str, str, str]]:
        """A thread's earlier turns alternate, customer first, and end with the agent's reply (the row's
        ticket is the customer's next message), so every chat template can render them."""
        history = row.get("history") or []
        for i, turn in enumerate(history):
            where, role = f"history[{i}]", ROLES[i % 2]
            if not isinstance(turn, dict) or not {"role", "text"} <= set(turn):  # other keys are ignored
                got = f"keys {sorted(turn)}" if isinstance(turn, dict) else type(turn).__name__
                return [(where, f"expected an object with role and text, got {got}", TURN_FIX)]
            if turn["role"] != role:
                return [
                    (
                        f"{where}.role",
                        f"is {turn['role']!r}, expected {role!r}: turns alternate, the customer's first",
                        "Join consecutive turns of one side into one, or fix the role.",
                    )
                ]
            if not isinstance(turn["text"], str) or not turn["text"].strip():
                return [(f"{where}.text", f"expected text, got {turn['text']!r}", "Give the turn's text.")]
        if len(history) % 2:
            return [
                (
                    "history",
                    f"ends with a customer turn (history[{len(history) - 1}])",
                    "End it with the agent's reply: the customer's next message is the row's ticket.",
                )
            ]
        return []

    def split_key(self, row: dict[str, Any]) -> str | None:
        """Rows of one thread share its earlier turns: all stay on one side, so no test row's context
        was a training target."""
        return row.get("thread")

    def earlier_turns(self, row: dict[str, Any], context: SupportContext) -> list[dict[str, str]]:
        """The thread's earlier turns as chat messages, the customer's rendered as a ticket (without docs)
        and the agent's as an answer, so the conversation reads as the final turn and its answer do."""
        template = self.template_for(row)
        common = {"intents": context.intents, "docs": [], "hints": [], "subject": ""}
        common["intent"] = row.get("intent")
        messages = []
        for turn in row.get("history") or []:
            text = turn["text"].strip()
            if turn["role"] == "customer":
                content = template.user.render(**common, ticket=text, response="")
            else:
                content = template.completion.render(**common, ticket="", response=text)
            messages.append(
                {"role": "user" if turn["role"] == "customer" else "assistant", "content": content.strip()}
            )
        return messages

    def query(self, row: dict[str, Any]) -> str:
        return f"{row.get('subject') or ''} {row['ticket']}".strip()

    def passages(self, row: dict[str, Any], context: SupportContext) -> list[retrieval.Passage]:
        if context.retriever is None:
            return []
        return context.retriever.search(self.query(row), context.settings["top_k"])

    # -- hooks -------------------------------------------------------------------------
    def build_context(
        self, train_rows: list[dict[str, Any]], settings: dict[str, Any], data_path: Path
    ) -> Any:
        location = Path(settings["docs"]) if settings.get("docs") else data_path.parent / "docs"
        use_docs = settings.get("docs") is not None or location.is_dir()
        passages = retrieval.load_docs(location) if use_docs else []
        intents = sorted({row["intent"] for row in train_rows})
        k = min(_hint_count(settings), len(intents))
        hints = None
        if k and len(intents) > 1:
            groups = tuple(row.get("thread") or f"row {i}" for i, row in enumerate(train_rows))
            texts = tuple(self.query(row) for row in train_rows)
            hints = fitted_hints(texts, tuple(row["intent"] for row in train_rows), groups, k)
        return SupportContext(
            intents,
            retrieval.Retriever(passages) if passages else None,
            location if passages else None,
            settings,
            hints,
        )

    def check_rows(self, rows: list[dict[str, Any]], context: SupportContext, source: str) -> list[DataIssue]:
        known = set(context.intents)
        return [
            DataIssue(
                source,
                row.get("_line"),
                "intent",
                f"intent '{row['intent']}' never occurs in the training rows, so the model cannot learn it",
                f"Use one of {', '.join(context.intents)}, or add training rows with this intent.",
            )
            for row in rows
            if row.get("intent") is not None and row["intent"] not in known
        ]

    def values(self, row: dict[str, Any], context: SupportContext) -> dict[str, Any]:
        words = context.settings["passage_words"]
        docs = [
            {"title": p.title, "text": retrieval.clip_words(p.text, words)}
            for p in self.passages(row, context)
        ]
        return {
            "intents": context.intents,
            "docs": docs,
            "hints": context.hints.for_text(self.query(row)) if context.hints else [],
            "subject": row.get("subject") or "",
            "ticket": row["ticket"].strip(),
            "intent": row.get("intent"),
            "response": (row.get("response") or "").strip(),
        }

    def answer_starts(self, context: SupportContext) -> list[str]:
        """An answer names one of the training intents (the labels the prompt lists), then replies."""
        return [f"Intent: {intent}\nReply:" for intent in context.intents]

    def parse(self, text: str, context: SupportContext) -> dict[str, Any]:
        match = INTENT_LINE.search(text)
        intent = normalise_label(match.group(1).split("\n")[0]) if match else UNKNOWN
        if intent not in context.intents:
            intent = UNKNOWN
        reply_match = REPLY_MARK.search(text)
        reply = text[reply_match.end() :] if reply_match else INTENT_LINE.sub("", text)
        return {"intent": intent, "reply": reply.strip(), "format_ok": bool(match and reply_match)}

    def score(self, parsed: dict[str, Any], row: dict[str, Any], context: SupportContext) -> dict[str, float]:
        rl = rouge_l(parsed["reply"], row["response"])
        correct = float(parsed["intent"] == row["intent"])
        return {
            "rouge_l": rl,
            "intent_correct": correct,
            "grounded": float(scores.grounded(parsed["reply"], self.passages(row, context), row["ticket"])),
            "automated": float(correct == 1.0 and rl >= context.settings["automation_rouge"]),
            "format_ok": float(parsed["format_ok"]),
        }

    def details(
        self, base: Sequence[Scored], tuned: Sequence[Scored], context: SupportContext
    ) -> dict[str, Any]:
        gold = [ex.row["intent"] for ex in base]
        tables = {
            name: per_label_f1([ex.parsed["intent"] for ex in runs], gold, context.intents)
            for name, runs in (("base", base), ("tuned", tuned))
        }
        rows = [
            [
                label,
                tables["base"][label]["f1"],
                tables["tuned"][label]["f1"],
                tables["tuned"][label]["support"],
            ]
            for label in context.intents
        ]
        out = {
            "Intent F1 per label": {"columns": ["intent", "base F1", "tuned F1", "test rows"], "rows": rows}
        }
        if context.hints:
            out["Intent hints"] = self._hint_table(base, tuned, context.hints)
        return out

    def _hint_table(
        self, base: Sequence[Scored], tuned: Sequence[Scored], hints: IntentHints
    ) -> dict[str, Any]:
        """How far each model's intents are the classifier's: what it would score alone, how often the
        model named its first intent, and how often the model was right when it named another."""
        first = [hints.for_text(self.query(ex.row))[0] for ex in base]
        gold = [ex.row["intent"] for ex in base]
        alone = sum(f == g for f, g in zip(first, gold, strict=True)) / len(gold)

        def followed(runs: Sequence[Scored]) -> tuple[float, str]:
            named = [ex.parsed["intent"] for ex in runs]
            other = [(n, g) for n, f, g in zip(named, first, gold, strict=True) if n != f]
            right = sum(n == g for n, g in other)
            return round(1 - len(other) / len(named), 3), f"{right} of {len(other)}"

        (base_share, base_other), (tuned_share, tuned_other) = followed(base), followed(tuned)
        return {
            "columns": ["", "base", "tuned"],
            "rows": [
                ["intent accuracy of the classifier's first intent alone", round(alone, 3), round(alone, 3)],
                ["share of answers naming the classifier's first intent", base_share, tuned_share],
                ["answers naming another intent: right", base_other, tuned_other],
            ],
        }

    def context_summary(self, context: SupportContext) -> dict[str, Any]:
        out: dict[str, Any] = {"intents": ", ".join(context.intents)}
        if context.retriever:
            out.update(retrieval.summary(context.retriever.passages, context.docs_location))
            out["retrieval"] = (
                f"TF-IDF, top {context.settings['top_k']} passage(s) of up to "
                f"{context.settings['passage_words']} words in each prompt"
            )
        else:
            out["docs"] = "none (no --docs and no docs/ folder beside the data file)"
        if context.hints:
            out["intent hints"] = (
                f"each prompt names the {context.hints.k} likeliest intents of a character n-gram "
                "classifier fitted on the training tickets (out of fold for training rows), for every "
                "model compared; the model chooses"
            )
        return out


scenario = SupportScenario(
    name="support",
    description="Customer support tickets: classify the intent and reply, grounded in product docs.",
    version="1.0",
    package_dir=Path(__file__).parent,
    fields=(
        Field("ticket", str, "the customer's message", free_text=True),
        Field("intent", str, "the ticket's intent label, e.g. order_status"),
        Field("response", str, "the agent's reply to the customer", free_text=True),
        Field("id", str, "ticket id", required=False, unique=True),
        Field("subject", str, "ticket subject line", required=False, nonempty=False, free_text=True),
        Field("product", str, "product the ticket is about", required=False, nonempty=False),
        Field("channel", str, "email, chat, web_form, social, ...", required=False, nonempty=False),
        Field("customer_segment", str, "e.g. new, returning, plus", required=False, nonempty=False),
        Field(
            "history",
            list,
            'the thread before the ticket, oldest first: [{"role": "customer" or "agent", "text": ...}]',
            required=False,
            free_text=True,
        ),
        Field("thread", str, "the thread's id: its rows stay on one side of every split", required=False),
    ),
    input_field="ticket",
    target_fields=("intent", "response"),
    label_field="intent",
    slice_fields=("customer_segment", "channel", "product"),
    example_score="rouge_l",
    importers=importers,
    option_help={
        "docs": "product docs folder or file (.md/.txt/.jsonl); default: docs/ beside --data if present",
        "top_k": "doc passages retrieved into each prompt",
        "passage_words": "words kept of each retrieved passage",
        "intent_hints": "how many likeliest intents of a classifier fitted on the training tickets each "
        "prompt names (0: none)",
        "automation_rouge": "ROUGE-L a reply needs (with the right intent) to count as automated",
    },
    metrics=(
        Metric(
            "intent_accuracy",
            "higher",
            "share of tickets whose intent is named correctly",
            scores.intent_accuracy,
            primary=True,
        ),
        Metric(
            "intent_macro_f1",
            "higher",
            "macro-averaged F1 over the intents present in the test rows",
            Aggregate(scores.intent_macro_f1, scores.intent_macro_f1_resampled),
        ),
        Metric(
            "reply_rouge_l",
            "higher",
            "ROUGE-L F1 of the reply against the agent's reply (stemmed)",
            mean_of("rouge_l"),
        ),
        Metric(
            "reply_bleu",
            "higher",
            "corpus BLEU of the replies against the agent's replies (sacrebleu)",
            Aggregate(scores.reply_bleu, scores.reply_bleu_resampled),
        ),
        Metric(
            "grounding_rate",
            "higher",
            "share of replies stating a fact (number or content trigram) from the "
            "retrieved docs that the ticket did not contain",
            mean_of("grounded"),
        ),
        Metric(
            "automation_rate",
            "higher",
            "share of tickets with the right intent and a reply whose ROUGE-L "
            "clears the automation threshold",
            mean_of("automated"),
        ),
        Metric(
            "format_rate",
            "higher",
            "share of answers in the 'Intent: ... / Reply: ...' format",
            mean_of("format_ok"),
        ),
        Metric(
            "seconds_per_answer",
            "lower",
            "seconds from its batch's start to the answer's last token (batched, this machine)",
            mean_seconds,
            range=None,
        ),
    ),
)
