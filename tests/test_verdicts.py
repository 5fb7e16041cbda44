"""A code answer passes only when the evidence shows every test ran to its end and passed: hostile
answers that exit early, stop or patch pytest, skip, forge records or return values that equal
everything are scored as failures (corpus: tests/corpus/hostile_answers/, each a wrong `add`)."""

from pathlib import Path

import pytest

from scenario_pack.scenarios.code import harness

HOSTILE = sorted((Path(__file__).parent / "corpus" / "hostile_answers").glob("*.py"))
TESTS = "def test_add():\n    assert add(2, 3) == 5\n    assert add(0, 0) == 0\n"
TESTS = "from solution import add\n\n\n" + TESTS
GOOD = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def hostile_outcomes() -> dict[str, object]:
    jobs = [("python", path.read_text(), TESTS) for path in HOSTILE]
    return dict(zip([p.stem for p in HOSTILE], harness.run_tests(jobs), strict=True))


@pytest.mark.parametrize("name", [p.stem for p in HOSTILE])
def test_a_hostile_answer_does_not_pass(name: str, hostile_outcomes: dict) -> None:
    outcome = hostile_outcomes[name]
    assert not outcome.passed, outcome.output
    assert harness.failure_cause(outcome) != "passed"


def test_honest_answers_pass_in_every_test_shape() -> None:
    shapes = {
        "function": TESTS,
        "parametrized": (
            "import pytest\nfrom solution import add\n\n\n@pytest.mark.parametrize('a', [1, 2, 3])\n"
            "def test_add(a):\n    assert add(a, 0) == a\n"
        ),
        "class": (
            "from solution import add\n\n\nclass TestAdd:\n    def test_it(self):\n"
            "        assert add(1, 1) == 2\n"
        ),
        "unittest": (
            "import unittest\n\nfrom solution import add\n\n\nclass AddTests(unittest.TestCase):\n"
            "    def test_it(self):\n        self.assertEqual(add(1, 1), 2)\n"
            "        self.assertNotEqual(add(1, 1), 3)\n"
        ),
        "approx and containers": (
            '"""Docstring first."""\nfrom __future__ import annotations\n\n'
            "import pytest\nfrom solution import add\n\n\n"
            "def test_floats():\n    assert add(0.1, 0.2) == pytest.approx(0.3)\n"
            "    assert [add(1, 1), {'k': add(2, 2)}] == [2, {'k': 4}]\n    assert add(1, 1) != 3\n"
        ),
    }
    outcomes = harness.run_tests([("python", GOOD, tests) for tests in shapes.values()])
    for shape, outcome in zip(shapes, outcomes, strict=True):
        assert outcome.passed, (shape, outcome.output)


def test_unittest_style_tests_refuse_values_that_equal_everything() -> None:
    tests = (
        "import unittest\n\nfrom solution import add\n\n\nclass AddTests(unittest.TestCase):\n"
        "    def test_it(self):\n        self.assertEqual(add(2, 3), 5)\n"
    )
    (outcome,) = harness.run_tests([("python", (HOSTILE[0].parent / "always_equal.py").read_text(), tests)])
    assert outcome.status == "failed" and "compares equal to everything" in outcome.output


def test_a_wrong_answer_still_fails_with_pytests_explanation() -> None:
    (outcome,) = harness.run_tests([("python", "def add(a, b):\n    return a * b\n", TESTS)])
    assert outcome.status == "failed" and "assert 6 == 5" in outcome.output
    assert harness.failure_cause(outcome) == "runs, wrong result (assertion fails)"


def test_evidence_is_read_only_under_the_runs_key() -> None:
    item = "test_solution.py::test_add"
    records = "".join(
        f"k {event} {detail}\n"
        for event, detail in [("item", item), ("returned", item), ("passed", item), ("finished", 0)]
    )
    assert harness.missing_evidence(records, "k", TESTS) is None
    assert harness.missing_evidence(records, "other", TESTS) is not None
    unproven = harness.missing_evidence(records.replace("k returned", "x returned"), "k", TESTS)
    assert unproven == "1 of 1 tests have no record of running to their end and passing"
    two_tests = TESTS + "\n\ndef test_more():\n    assert add(1, 1) == 2\n"
    assert harness.missing_evidence(records, "k", two_tests) == "tests the file defines were not collected"
