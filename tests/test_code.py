"""The code scenario: extraction, pass@k, each metric on hand-checked answers, Django execution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenario_pack.core.plugins import registry
from scenario_pack.scenarios.code import extract, pass_at_k

CODE = registry.load("code")
CONTEXT = CODE.build_context([], {"standard": None, "pass_k": 2}, None)

ADD_ROW = {
    "kind": "python",
    "task": "code",
    "description": "Write add(a, b).",
    "solution": 'def add(a: int, b: int) -> int:\n    """Sum."""\n    return a + b\n',
    "tests": "from solution import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
}
TESTS_ROW = {
    "kind": "python",
    "task": "tests",
    "description": "Write tests for is_overdue.",
    "solution": "def is_overdue(days: int) -> bool:\n    return days > 30\n",
    "tests": (
        "from solution import is_overdue\n\n\n"
        "def test_edges():\n    assert not is_overdue(30)\n    assert is_overdue(31)\n"
    ),
    "mutants": ["def is_overdue(days: int) -> bool:\n    return days >= 30\n"],
}
DJANGO_ROW = {
    "kind": "django",
    "task": "code",
    "description": "An Invoice model with a total and a view listing unpaid invoices as JSON.",
    "solution": (
        "from django.db import models\nfrom django.http import JsonResponse\n"
        "from django.urls import path\n\n\n"
        "class Invoice(models.Model):\n    total = models.DecimalField(max_digits=10, decimal_places=2)\n"
        "    paid = models.BooleanField(default=False)\n\n\n"
        "def unpaid(request):\n"
        "    ids = Invoice.objects.filter(paid=False).values_list('id', flat=True)\n"
        '    return JsonResponse({"ids": list(ids)})\n\n\n'
        'urlpatterns = [path("unpaid/", unpaid)]\n'
    ),
    "tests": (
        "from decimal import Decimal\n\nfrom django.test import Client\n\n"
        "from app.solution import Invoice\n\n\n"
        "def test_unpaid_view():\n"
        '    a = Invoice.objects.create(total=Decimal("10.00"))\n'
        '    Invoice.objects.create(total=Decimal("5.00"), paid=True)\n'
        '    assert Client().get("/unpaid/").json() == {"ids": [a.id]}\n'
    ),
}


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("```python\nx = 1\n```", "x = 1"),
        ("Here you go:\n```py\ndef f():\n    return 2\n```\nThis returns 2.", "def f():\n    return 2"),
        ("```\nnot python at all (\n```\n```python\ny = 2\n```", "y = 2"),
        (
            "Sure! Here is the code:\ndef f(x):\n    return x * 2\nIt doubles x.",
            "def f(x):\n    return x * 2",
        ),
        ("```python\ndef f(:\n", "def f(:"),  # unclosed fence, broken code: returned as is, fails syntax
    ],
)
def test_code_is_extracted_fenced_or_not(answer: str, code: str) -> None:
    assert extract.code_of(answer) == code


def test_pass_at_k_matches_known_values() -> None:
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 0, 5) == 0.0 and pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 5, 5) == pytest.approx(1 - 1 / 252)
    assert pass_at_k(5, 4, 2) == 1.0  # fewer failures than k: some draw of k always passes


def score(rows: list[dict], answers: list[str], samples: list | None = None) -> list[dict]:
    parsed = [CODE.parse(a, CONTEXT) for a in answers]
    return CODE.score_batch(parsed, rows, CONTEXT, samples)


def test_code_metrics_on_hand_checked_answers() -> None:
    good = "```python\n" + ADD_ROW["solution"] + "```"
    wrong = '```python\ndef add(a: int, b: int) -> int:\n    """Sum."""\n    return a - b\n```'
    sloppy = "```python\nimport os\ndef add(a,b): return a+b\n```"
    broken = "def add(a, b) return a + b"
    s_good, s_wrong, s_sloppy, s_broken = score([ADD_ROW] * 4, [good, wrong, sloppy, broken])
    assert s_good == {"syntax_ok": 1.0, "lint_ok": 1.0, "violations": 0.0, "passed": 1.0, "chrf": 1.0}
    assert s_wrong["passed"] == 0.0 and s_wrong["lint_ok"] == 1.0
    assert (
        s_sloppy["passed"] == 1.0 and s_sloppy["lint_ok"] == 0.0 and s_sloppy["violations"] >= 2
    )  # F401, E704
    assert s_broken["syntax_ok"] == 0.0 and s_broken["passed"] == 0.0


def test_samples_give_pass_at_k() -> None:
    good, bad = ADD_ROW["solution"], "def add(a, b):\n    return 0\n"
    (result,) = score([ADD_ROW], [good], [[good, bad, bad]])
    assert result["pass_at_k"] == pytest.approx(pass_at_k(3, 1, 2))


def test_generated_tests_must_pass_the_reference_and_catch_a_mutant() -> None:
    sharp = "```python\n" + TESTS_ROW["tests"] + "```"
    weak = "```python\nfrom solution import is_overdue\n\n\ndef test_it():\n    assert is_overdue(90)\n```"
    wrong = "```python\nfrom solution import is_overdue\n\n\ndef test_it():\n    assert is_overdue(3)\n```"
    s_sharp, s_weak, s_wrong = score([TESTS_ROW] * 3, [sharp, weak, wrong])
    assert (s_sharp["tests_valid"], s_sharp["catches_mutant"]) == (1.0, 1.0)
    assert (s_weak["tests_valid"], s_weak["catches_mutant"]) == (1.0, 0.0)
    assert (s_wrong["tests_valid"], s_wrong["catches_mutant"]) == (
        0.0,
        0.0,
    )  # failing everywhere catches nothing


def test_django_rows_run_against_a_real_django() -> None:
    (result,) = score([DJANGO_ROW], ["```python\n" + DJANGO_ROW["solution"] + "```"])
    assert result["passed"] == 1.0
    broken_view = DJANGO_ROW["solution"].replace("paid=False", "paid=True")
    (result,) = score([DJANGO_ROW], ["```python\n" + broken_view + "```"])
    assert result["passed"] == 0.0


def test_bad_rows_are_named(tmp_path) -> None:
    from scenario_pack.core.data import dataset
    from scenario_pack.core.errors import DataError
    from tests.conftest import write_jsonl

    path = write_jsonl(
        tmp_path / "t.jsonl", [ADD_ROW, {**ADD_ROW, "kind": "rust"}, {**TESTS_ROW, "mutants": []}]
    )
    with pytest.raises(DataError) as info:
        dataset.load(path, CODE)
    assert f"{path}:2 field 'kind': unknown kind 'rust'" in str(info.value)
    assert f"{path}:3 field 'mutants'" in str(info.value)


SAMPLE = Path(__file__).parents[1] / "data_templates" / "code" / "tasks.jsonl"


@pytest.mark.slow
def test_every_shipped_reference_passes_and_every_mutant_fails() -> None:
    from scenario_pack.scenarios.code import harness

    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    jobs, owners = [], []
    for n, row in enumerate(rows, start=1):
        jobs.append((row["kind"], row["solution"], row["tests"]))
        owners.append((n, "reference"))
        for mutant in row.get("mutants") or []:
            jobs.append((row["kind"], mutant, row["tests"]))
            owners.append((n, "mutant"))
    outcomes = harness.run_tests(jobs)
    wrong = [
        f"line {n}: {what} {outcome.status}\n{outcome.output[-400:]}"
        for (n, what), outcome in zip(owners, outcomes, strict=True)
        if outcome.passed != (what == "reference")
    ]
    assert not wrong, "\n".join(wrong[:5])
    assert len(rows) >= 200 and sum(1 for r in rows if r.get("task") == "tests") >= 20


def test_failing_answers_are_told_apart_in_the_report() -> None:
    """A wrong name, a wrong value, an exception and unparsable code are different failures."""
    from scenario_pack.core.evaluation.scoring import score

    answers = {
        "passed": "def add(a, b):\n    return a + b\n",
        "runs, wrong result (assertion fails)": "def add(a, b):\n    return a - b\n",
        "an import fails (a module or name that does not exist)": "def plus(a, b):\n    return a + b\n",
        "raises TypeError": "def add(a, b):\n    return a + None\n",
        "does not parse": "def add(a, b)\n    return a + b\n",
    }
    records = [
        {"row": ADD_ROW, "base": {"raw": f"```python\n{code}```", "seconds": 0.0}}
        for code in answers.values()
    ]
    scored = score(CODE, CONTEXT, records, "base")
    assert [ex.parsed["outcome"] for ex in scored] == list(answers)
    table = CODE.details(scored, scored, CONTEXT)[
        "Why answers passed or failed (rows with tests, greedy answer)"
    ]
    assert {row[0]: row[1] for row in table["rows"]} == dict.fromkeys(answers, 1)
