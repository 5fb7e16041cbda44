"""The near-copy search above the size where it stops comparing every pair (MinHash LSH): planted
near copies and leakage are found as the exact search finds them, distinct texts are not flagged,
and the search shows its progress unless --quiet."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core.cli import cli
from scenario_pack.core.data import quality, similarity
from tests.conftest import SUPPORT_DATA, write_jsonl
from tests.test_quality import clean_rows, findings

TICKETS = [json.loads(line)["ticket"] for line in SUPPORT_DATA.read_text(encoding="utf-8").splitlines()]
SAMPLE = [t for t in TICKETS if len(t) > 150]  # long enough that one typo keeps a copy near


@pytest.fixture
def above_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every input is above the size where the exact search stops (2,000 rows and more otherwise)."""
    monkeypatch.setattr(similarity, "EXACT_PAIRS", 0)


def near_copy(text: str, rng: random.Random) -> str:
    """The same ticket sent again, with a typo."""
    at = rng.randrange(len(text))
    return text[:at] + text[at] + text[at:]


def both_ways(train: list[str], test: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple:
    monkeypatch.setattr(similarity, "EXACT_PAIRS", 10**12)
    exact = similarity.near_copies(train, test, quality.NEAR_SIMILARITY)
    monkeypatch.setattr(similarity, "EXACT_PAIRS", 0)
    return exact, similarity.near_copies(train, test, quality.NEAR_SIMILARITY)


def test_planted_near_copies_and_leakage_are_found_as_the_exact_search_finds_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(3)
    train, test = SAMPLE[:100], SAMPLE[100:]
    planted = {i: near_copy(train[i], rng) for i in range(0, 100, 10)}
    train += list(planted.values())  # rows 100..109 copy rows 0, 10, ..., 90
    test += [near_copy(train[i], rng) for i in range(5, 100, 20)]  # the last 5 test rows leak
    exact, approximate = both_ways(train, test, monkeypatch)
    for found, wanted in ((approximate.within, exact.within), (approximate.across, exact.across)):
        assert [(i, j) for i, j, _ in found] == [(i, j) for i, j, _ in wanted]
        assert [s for _, _, s in found] == pytest.approx([s for _, _, s in wanted])
    pairs = {tuple(sorted((i, j))) for i, j, _ in approximate.within}
    assert {(i, 100 + k) for k, i in enumerate(planted)} <= pairs
    assert {i for i, _, _ in approximate.across} >= set(range(len(test) - 5, len(test)))
    assert all(s >= quality.NEAR_SIMILARITY for _, _, s in approximate.within + approximate.across)


def test_distinct_texts_are_not_flagged(above_the_switch: None, tmp_path: Path) -> None:
    found = findings(tmp_path, clean_rows(), clean_rows(90)[72:])
    assert found["near duplicates"].severity == "info", found["near duplicates"].message
    assert found["leakage"].severity == "info", found["leakage"].message


def test_planted_defects_give_the_same_findings(above_the_switch: None, tmp_path: Path) -> None:
    rows = clean_rows()
    rows[5] = {**rows[3], "ticket": rows[3]["ticket"] + "!"}
    test = [{**r, "ticket": r["ticket"].replace("Order", "order #")} for r in rows[:6]]
    found = findings(tmp_path, rows, test)
    near = found["near duplicates"]
    assert near.severity == "warning" and "lines 4 and 6" in near.message
    assert found["leakage"].severity == "error" and "6 of 6 test rows" in found["leakage"].message


def test_leakage_stops_validation_with_progress_shown_unless_quiet(
    above_the_switch: None, tmp_path: Path
) -> None:
    rows = clean_rows()
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    test = write_jsonl(tmp_path / "test.jsonl", [{**r, "ticket": r["ticket"] + "."} for r in rows[:6]])
    args = ["validate", "support", "--data", str(data), "--test", str(test)]
    shown = CliRunner().invoke(cli, args)
    assert shown.exit_code == 2 and "6 of 6 test rows (100.0%) are exact or near copies" in shown.stderr
    assert "near copies: signing training rows" in shown.stderr and "Traceback" not in shown.output
    quiet = CliRunner().invoke(cli, [*args, "--quiet"])
    assert quiet.exit_code == 2 and "near copies:" not in quiet.stderr
