from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core.cli import cli
from scenario_pack.core.errors import ConfigError, DataError
from scenario_pack.core.evaluation.statistics import compare
from scenario_pack.core.plugins import registry
from scenario_pack.core.plugins.scenario import Metric, Scored
from scenario_pack.scenarios.support import retrieval
from scenario_pack.scenarios.support.scores import grounded
from tests.conftest import SUPPORT_DATA, SUPPORT_DOCS, write_jsonl

SUPPORT = registry.load("support")
SETTINGS = {"docs": None, "top_k": 1, "passage_words": 60, "automation_rouge": 0.3}
ROWS = [
    {
        "ticket": "How long does shipping take for my parcel?",
        "intent": "order_status",
        "response": "Standard shipping takes 3-5 business days.",
    },
    {
        "ticket": "I want to return the kettle.",
        "intent": "return_request",
        "response": "You can return it within 30 days from delivery.",
    },
]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory):
    """Two hand-written passages, so retrieval and grounding are checkable by hand."""
    docs = tmp_path_factory.mktemp("docs") / "help.md"
    docs.write_text(
        "# Help\n## Shipping times\nStandard shipping takes 3-5 business days by UPS.\n"
        "## Returns\nYou can return an item within 30 days from delivery.\n"
    )
    return SUPPORT.build_context(ROWS, {**SETTINGS, "docs": str(docs)}, SUPPORT_DATA)


@pytest.mark.parametrize(
    ("text", "intent", "reply", "ok"),
    [
        ("Intent: order_status\nReply: It is on its way.", "order_status", "It is on its way.", True),
        ("intent - Order Status\nreply: On its way.", "order_status", "On its way.", True),
        ("**Intent:** return_request\n**Reply:** Sure.", "return_request", "Sure.", True),
        ("Intent: teleportation\nReply: Hm.", "unknown", "Hm.", True),
        ("Your order ships soon.", "unknown", "Your order ships soon.", False),
    ],
)
def test_parse(context, text: str, intent: str, reply: str, ok: bool) -> None:
    parsed = SUPPORT.parse(text, context)
    assert (parsed["intent"], parsed["reply"], parsed["format_ok"]) == (intent, reply, ok)


def test_format_renders_template_with_docs_and_labels(context) -> None:
    example = SUPPORT.format(ROWS[1], context)
    system, user = example.prompt[0]["content"], example.prompt[1]["content"]
    assert "order_status, return_request" in system
    assert "Documentation (Help - Returns): You can return an item within 30 days" in user and user.endswith(
        "Ticket: I want to return the kettle."
    )
    assert (
        example.completion == "Intent: return_request\nReply: You can return it within 30 days from delivery."
    )


def test_prompts_name_a_classifiers_likeliest_intents(support_rows: list[dict]) -> None:
    """Held-out tickets are hinted by the classifier fitted on the training rows, and the hints are
    mostly right on the sample: the model is handed a ranking worth reading."""
    train, held_out = support_rows[:360], support_rows[360:]
    context = SUPPORT.build_context(train, {**SETTINGS, "intent_hints": 3}, SUPPORT_DATA)
    hints = [context.hints.for_text(SUPPORT.query(row)) for row in held_out]
    assert all(len(h) == 3 and set(h) <= set(context.intents) for h in hints)
    top = sum(h[0] == row["intent"] for h, row in zip(hints, held_out, strict=True)) / len(held_out)
    assert top > 0.5
    user = SUPPORT.format(held_out[0], context).prompt[-1]["content"]
    assert f"Likely intents: {', '.join(hints[0])}\n" in user


def test_a_training_rows_hints_come_from_a_classifier_that_never_saw_it(support_rows: list[dict]) -> None:
    """A training row is hinted out of fold: a mislabelled row does not get its own wrong label back,
    which the classifier fitted on every row (the one new tickets meet) hands it first."""
    train = [dict(row) for row in support_rows[:360]]
    odd = train[7]
    odd["intent"] = next(i for i in sorted({r["intent"] for r in train}) if i != odd["intent"])
    context = SUPPORT.build_context(train, {**SETTINGS, "intent_hints": 1}, SUPPORT_DATA)
    text = SUPPORT.query(odd)
    assert context.hints.for_text(text) != [odd["intent"]]
    assert str(context.hints.model.predict([text])[0]) == odd["intent"]


def test_the_report_shows_how_far_the_models_follow_the_hints(support_rows: list[dict]) -> None:
    train, held_out = support_rows[:360], support_rows[360:380]
    context = SUPPORT.build_context(train, {**SETTINGS, "intent_hints": 2}, SUPPORT_DATA)
    first = [context.hints.for_text(SUPPORT.query(row))[0] for row in held_out]

    def answered(intents: list[str]) -> list[Scored]:
        texts = [f"Intent: {intent}\nReply: ok" for intent in intents]
        return [
            Scored(r, t, SUPPORT.parse(t, context), {}, 0.5) for r, t in zip(held_out, texts, strict=True)
        ]

    gold = [row["intent"] for row in held_out]
    table = SUPPORT.details(answered(first), answered(gold), context)["Intent hints"]
    alone = sum(f == g for f, g in zip(first, gold, strict=True)) / len(gold)
    others = sum(f != g for f, g in zip(first, gold, strict=True))
    assert table["rows"] == [
        ["intent accuracy of the classifier's first intent alone", round(alone, 3), round(alone, 3)],
        ["share of answers naming the classifier's first intent", 1.0, round(1 - others / len(gold), 3)],
        ["answers naming another intent: right", "0 of 0", f"{others} of {others}"],
    ]


def test_no_hints_when_turned_off_or_one_intent(support_rows: list[dict]) -> None:
    for settings, rows in (
        (SETTINGS, support_rows[:100]),
        ({**SETTINGS, "intent_hints": 0}, support_rows[:100]),
        ({**SETTINGS, "intent_hints": 3}, [{**row, "intent": "order_status"} for row in support_rows[:20]]),
    ):
        context = SUPPORT.build_context(rows, settings, SUPPORT_DATA)
        assert context.hints is None
        assert "Likely intents" not in SUPPORT.format(rows[0], context).prompt[-1]["content"]


@pytest.mark.parametrize("value", ["three", -1, 2.5, True])
def test_a_wrong_hint_count_is_a_clear_error(value: object) -> None:
    with pytest.raises(ConfigError, match=r"scenario.intent_hints is .*a whole number \(0 for none\)"):
        SUPPORT.build_context(ROWS, {**SETTINGS, "intent_hints": value}, SUPPORT_DATA)


def test_retrieval_finds_the_relevant_policy() -> None:
    retriever = retrieval.Retriever(retrieval.load_docs(SUPPORT_DOCS))
    assert (
        "Return"
        in retriever.search("what is the return window, how long do I have to send an item back", 1)[0].title
    )
    assert "Drift" in retriever.search("my earbuds won't pair, how do I reset them", 1)[0].title


def test_grounding_counts_doc_facts_not_echoes() -> None:
    passage = retrieval.Passage("Returns", "Returns are accepted within 30 days from delivery.", "x")
    assert grounded("You have 30 days to send it back.", [passage], "Can I return it?")
    assert not grounded("You have 30 days to send it back.", [passage], "It's been 30 days, can I return?")
    assert grounded("Items are accepted within 30 days from delivery.", [passage], "return?")
    assert not grounded("We will look into it.", [passage], "return?")


def test_metrics_on_hand_checked_examples(context) -> None:
    def scored(row: dict, text: str) -> Scored:
        parsed = SUPPORT.parse(text, context)
        return Scored(row, text, parsed, SUPPORT.score(parsed, row, context), 0.5)

    examples = [
        scored(ROWS[0], "Intent: order_status\nReply: Standard shipping takes 3-5 business days."),
        scored(ROWS[1], "Intent: order_status\nReply: No idea."),
    ]
    values = {m.name: m.aggregate(examples) for m in SUPPORT.metrics}
    assert values["intent_accuracy"] == 0.5
    # order_status: P=1/2, R=1 -> F1 2/3; return_request: F1 0 -> macro 1/3
    assert values["intent_macro_f1"] == pytest.approx(1 / 3)
    assert values["reply_rouge_l"] == pytest.approx(
        0.5
    )  # one exact reply (1.0), one with nothing shared (0.0)
    assert values["automation_rate"] == 0.5
    assert values["format_rate"] == 1.0
    assert values["seconds_per_answer"] == 0.5
    assert examples[0].scores["grounded"] == 1.0 and examples[1].scores["grounded"] == 0.0


def test_declared_vectorised_forms_give_the_loops_intervals(context) -> None:
    """Corpus-level macro-F1 and BLEU declare resampled forms (means have theirs from mean_of)."""
    rows = ROWS * 12

    def answered(texts: list[str]) -> list[Scored]:
        pairs = zip(rows, texts, strict=True)
        return [Scored(row, text, SUPPORT.parse(text, context), {}, 0.5) for row, text in pairs]

    base = answered(["Intent: order_status\nReply: Shipping takes 3-5 days."] * len(rows))
    tuned = answered(
        [f"Intent: {row['intent']}\nReply: {row['response'] if i % 3 else '-'}" for i, row in enumerate(rows)]
    )
    vectorised = [m for m in SUPPORT.metrics if m.resampled is not None and m.score_key is None]
    assert [m.name for m in vectorised] == ["intent_macro_f1", "reply_bleu"]
    for metric in vectorised:
        looped = Metric(metric.name, metric.direction, "", lambda examples, m=metric: m.aggregate(examples))
        assert looped.resampled is None
        fast, slow = compare(metric, base, tuned, 50, 3), compare(looped, base, tuned, 50, 3)
        assert (fast.base, fast.tuned) == (slow.base, slow.tuned)
        assert fast.low == pytest.approx(slow.low) and fast.high == pytest.approx(slow.high)


def test_unknown_intent_in_test_rows_is_an_error(context) -> None:
    issues = SUPPORT.check_rows([{**ROWS[0], "intent": "refund_status", "_line": 7}], context, "test.jsonl")
    assert len(issues) == 1
    assert "test.jsonl:7 field 'intent': intent 'refund_status' never occurs in the training rows" in str(
        issues[0]
    )


def test_docs_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="docs path not found"):
        retrieval.load_docs(tmp_path / "missing")
    (tmp_path / "empty.bin").write_bytes(b"\x00\x01")
    with pytest.raises(DataError, match="no readable documentation text"):
        retrieval.load_docs(tmp_path)


def test_sample_data_is_broad_and_grounded(support_rows: list[dict]) -> None:
    from collections import Counter

    intents = Counter(r["intent"] for r in support_rows)
    assert len(support_rows) >= 400 and len(intents) >= 8 and min(intents.values()) >= 30
    assert len({r["ticket"] for r in support_rows}) == len(support_rows)
    context = SUPPORT.build_context(support_rows, SETTINGS, SUPPORT_DATA)
    share = sum(grounded(r["response"], SUPPORT.passages(r, context), r["ticket"]) for r in support_rows)
    assert share / len(support_rows) > 0.5  # the agents' own replies mostly use the retrieved docs


THREAD_ROW = {
    "ticket": "Great. When will it arrive?",
    "intent": "return_request",
    "response": "It is booked for delivery on Thursday.",
    "subject": "Lid cracked",
    "history": [
        {"role": "customer", "text": "The lid arrived cracked. Can I get a new one?"},
        {"role": "agent", "text": "Sorry! Could you send a photo?"},
        {"role": "customer", "text": "Here it is."},
        {"role": "agent", "text": "Thanks, a new lid ships today."},
    ],
}


def test_a_rows_history_becomes_earlier_chat_turns(context) -> None:
    example = SUPPORT.format(THREAD_ROW, context)
    assert [m["role"] for m in example.prompt] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in example.prompt[1:5]] == [
        "Ticket: The lid arrived cracked. Can I get a new one?",
        "Intent: return_request\nReply: Sorry! Could you send a photo?",
        "Ticket: Here it is.",
        "Intent: return_request\nReply: Thanks, a new lid ships today.",
    ]
    assert example.prompt[-1]["content"].endswith("Ticket (Lid cracked): Great. When will it arrive?")
    assert example.completion == "Intent: return_request\nReply: It is booked for delivery on Thursday."
    assert SUPPORT.prompt(THREAD_ROW, context) == example.prompt  # generation sees the same turns
    without = {k: v for k, v in THREAD_ROW.items() if k != "history"}
    assert SUPPORT.format(without, context).prompt == [example.prompt[0], example.prompt[-1]]


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ("hello", "field 'history': expected list, got str 'hello'"),
        (
            [{"role": "customer"}],
            "field 'history[0]': expected an object with role and text, got keys ['role']",
        ),
        (["hi"], "field 'history[0]': expected an object with role and text, got str"),
        (
            [{"role": "agent", "text": "Hi"}, {"role": "customer", "text": "Yo"}],
            "field 'history[0].role': is 'agent', expected 'customer': turns alternate, the customer's first",
        ),
        (
            [{"role": "customer", "text": "Hi"}, {"role": "agent", "text": " "}],
            "field 'history[1].text': expected text, got ' '. Give the turn's text.",
        ),
        (
            [{"role": "customer", "text": "Hi"}],
            "field 'history': ends with a customer turn (history[0]). End it with the agent's reply",
        ),
    ],
)
def test_a_malformed_history_is_one_clear_error(history, message: str, support_rows, tmp_path: Path) -> None:
    rows = [dict(row) for row in support_rows]
    rows[2]["history"] = history
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    result = CliRunner().invoke(cli, ["validate", "support", "--data", str(data)])
    assert result.exit_code == 2 and f"{data}:3 {message}" in result.output
    assert "Traceback" not in result.output
