import json
from pathlib import Path

import pytest

from scenario_pack.core import data, registry
from scenario_pack.core.errors import DataError
from tests.conftest import write_jsonl

SUPPORT = registry.load("support")
GOOD = {
    "ticket": "Where is my parcel?",
    "intent": "order_status",
    "response": "It ships in 3-5 business days.",
}


def issues(path: Path) -> str:
    with pytest.raises(DataError) as info:
        data.load(path, SUPPORT)
    return str(info.value)


def test_every_problem_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            GOOD,
            {"ticket": "hi", "response": "hello"},
            {**GOOD, "intent": 3},
            {**GOOD, "response": "   "},
        ],
    )
    message = issues(path)
    assert "3 data problems found" in message
    assert f"{path}:2 field 'intent': required field is missing" in message
    assert f"{path}:3 field 'intent': expected text, got int" in message
    assert f"{path}:4 field 'response': is empty" in message


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(GOOD) + '\n\n{"ticket": oops}\n')
    assert f"{path}:3: invalid JSON" in issues(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "file is empty"),
        (b"  \n\n", "only whitespace"),
        (b'[{"ticket": "a"}]', "JSON array, not JSON Lines"),
        (b'{"ticket": "caf\xe9"}', "not UTF-8"),
        (b'"just a string"\n', "expected a JSON object"),
    ],
)
def test_malformed_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(content)
    assert expected in issues(path)


def test_bad_paths(tmp_path: Path) -> None:
    assert "file not found" in issues(tmp_path / "nope.jsonl")
    assert "is a directory" in issues(tmp_path)
    other = tmp_path / "t.txt"
    other.write_text("x")
    assert "unsupported file type '.txt'" in issues(other)


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n")
    assert len(data.load(path, SUPPORT).rows) == 1


def test_csv_and_parquet(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame([GOOD, {**GOOD, "ticket": ""}])
    frame.to_csv(tmp_path / "t.csv", index=False)
    # an empty CSV cell reads as missing: the line is the file's line (header is line 1)
    assert f"{tmp_path / 't.csv'}:3 field 'ticket'" in issues(tmp_path / "t.csv")
    frame.iloc[:1].to_parquet(tmp_path / "t.parquet")
    assert data.load(tmp_path / "t.parquet", SUPPORT).rows[0]["ticket"] == GOOD["ticket"]


def test_split_is_seeded_and_stratified(support_rows: list[dict]) -> None:
    rows = [dict(r, _line=i) for i, r in enumerate(support_rows)]
    kept, held, stratified = data.split(rows, 0.2, 42, "intent")
    again_kept, again_held, _ = data.split(rows, 0.2, 42, "intent")
    assert stratified and len(held) == 90 and len(kept) == 360
    assert [r["_line"] for r in held] == [r["_line"] for r in again_held]
    assert {r["intent"] for r in held} == {r["intent"] for r in rows}
    assert not {r["_line"] for r in held} & {r["_line"] for r in kept}
    _, other_held, _ = data.split(rows, 0.2, 7, "intent")
    assert [r["_line"] for r in other_held] != [r["_line"] for r in held]


def test_duplicates_and_overlap() -> None:
    rows = [{"ticket": "Where is  my order?"}, {"ticket": "where is my order?"}, {"ticket": "Refund?"}]
    kept, dropped = data.drop_duplicates(rows, "ticket")
    assert dropped == 1 and len(kept) == 2
    assert data.overlap(kept, [{"ticket": "REFUND?"}, {"ticket": "new"}], "ticket") == [{"ticket": "REFUND?"}]


def test_rows_sharing_a_split_key_stay_on_one_side(support_rows: list[dict]) -> None:
    rows = support_rows[:100]
    keys = [f"module{i // 4}" if i < 40 else None for i in range(len(rows))]  # ten groups of four rows
    kept, held, _ = data.split(rows, 0.2, 42, "intent", keys)
    key_of = {row["id"]: key for row, key in zip(rows, keys, strict=True)}
    kept_keys = {key_of[r["id"]] for r in kept} - {None}
    assert not kept_keys & {key_of[r["id"]] for r in held}  # no group on both sides
    assert len(kept) + len(held) == 100
    assert len(held) >= 14  # 14 of the 70 units (ten groups, sixty single rows) are held out whole
    threads = [f"thread{i // 3}" for i in range(90)] + [None] * 10  # thirty threads of three rows
    kept, held, _ = data.split(rows, 0.2, 42, "intent", threads)
    key_of = {row["id"]: key for row, key in zip(rows, threads, strict=True)}
    assert not {key_of[r["id"]] for r in kept} & {key_of[r["id"]] for r in held} - {None}
    assert 15 <= len(held) <= 25  # whole threads held out, not emptied by moving rows back


def test_ungrouped_rows_split_as_before(support_rows: list[dict]) -> None:
    rows = support_rows[:100]
    plain = data.split(rows, 0.2, 42, "intent")
    assert data.split(rows, 0.2, 42, "intent", [None] * 100) == plain
    assert data.split(rows, 0.2, 42, "intent", [f"own{i}" for i in range(100)]) == plain
