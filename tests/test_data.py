import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core.cli import cli
from scenario_pack.core.data import csv_table, dataset, splits
from scenario_pack.core.errors import DataError
from scenario_pack.core.plugins import registry
from tests.conftest import write_jsonl

SUPPORT = registry.load("support")
GOOD = {
    "ticket": "Where is my parcel?",
    "intent": "order_status",
    "response": "It ships in 3-5 business days.",
}


def issues(path: Path) -> str:
    with pytest.raises(DataError) as info:
        dataset.load(path, SUPPORT)
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
    assert len(dataset.load(path, SUPPORT).rows) == 1


def test_csv_and_parquet(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame([GOOD, {**GOOD, "ticket": ""}])
    frame.to_csv(tmp_path / "t.csv", index=False)
    # an empty CSV cell reads as missing: the line is the file's line (header is line 1)
    assert f"{tmp_path / 't.csv'}:3 field 'ticket'" in issues(tmp_path / "t.csv")
    frame.iloc[:1].to_parquet(tmp_path / "t.parquet")
    assert dataset.load(tmp_path / "t.parquet", SUPPORT).rows[0]["ticket"] == GOOD["ticket"]


def test_split_is_seeded_and_stratified(support_rows: list[dict]) -> None:
    rows = [dict(r, _line=i) for i, r in enumerate(support_rows)]
    kept, held, stratified = splits.split(rows, 0.2, 42, "intent")
    again_kept, again_held, _ = splits.split(rows, 0.2, 42, "intent")
    assert stratified and len(held) == 90 and len(kept) == 360
    assert [r["_line"] for r in held] == [r["_line"] for r in again_held]
    assert {r["intent"] for r in held} == {r["intent"] for r in rows}
    assert not {r["_line"] for r in held} & {r["_line"] for r in kept}
    _, other_held, _ = splits.split(rows, 0.2, 7, "intent")
    assert [r["_line"] for r in other_held] != [r["_line"] for r in held]


def test_duplicates_and_overlap() -> None:
    rows = [{"ticket": "Where is  my order?"}, {"ticket": "where is my order?"}, {"ticket": "Refund?"}]
    kept, dropped = splits.drop_duplicates(rows, "ticket")
    assert dropped == 1 and len(kept) == 2
    assert splits.overlap(kept, [{"ticket": "REFUND?"}, {"ticket": "new"}], "ticket") == [
        {"ticket": "REFUND?"}
    ]


def test_rows_sharing_a_split_key_stay_on_one_side(support_rows: list[dict]) -> None:
    rows = support_rows[:100]
    keys = [f"module{i // 4}" if i < 40 else None for i in range(len(rows))]  # ten groups of four rows
    kept, held, _ = splits.split(rows, 0.2, 42, "intent", keys)
    key_of = {row["id"]: key for row, key in zip(rows, keys, strict=True)}
    kept_keys = {key_of[r["id"]] for r in kept} - {None}
    assert not kept_keys & {key_of[r["id"]] for r in held}  # no group on both sides
    assert len(kept) + len(held) == 100
    assert len(held) >= 14  # 14 of the 70 units (ten groups, sixty single rows) are held out whole
    threads = [f"thread{i // 3}" for i in range(90)] + [None] * 10  # thirty threads of three rows
    kept, held, _ = splits.split(rows, 0.2, 42, "intent", threads)
    key_of = {row["id"]: key for row, key in zip(rows, threads, strict=True)}
    assert not {key_of[r["id"]] for r in kept} & {key_of[r["id"]] for r in held} - {None}
    assert 15 <= len(held) <= 25  # whole threads held out, not emptied by moving rows back


# -- CSV: one reader for validate, run and prepare (core/data/csv_table.py) -----------------------------


def validate_cli(path: Path, *extra: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", "support", "--data", str(path), *map(str, extra)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def write_table(path: Path, rows: list[dict], delimiter: str, encoding: str) -> Path:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding, errors="replace"))
    return path


def test_semicolon_latin1_csv_validates_with_its_accents(
    support_dir: Path, support_rows: list[dict], tiny_model: Path
) -> None:
    rows = [{k: row[k] for k in ("ticket", "intent", "response")} for row in support_rows[:120]]
    rows[0]["ticket"] = "Mon café est arrivé froid; je voudrais être remboursé, s'il vous plaît."
    rows[1]["response"] = "Désolé! Nous échangeons la crème brûlée."
    path = write_table(support_dir / "tickets.csv", rows, ";", "latin-1")
    code, output = validate_cli(path, "--model", tiny_model)
    assert code == 0, output
    assert f"{path}: read as semicolon-separated, encoding cp1252" in output
    assert "120 rows valid" in output and "datasets" not in output
    loaded = dataset.load(path, SUPPORT).rows
    assert loaded[0]["ticket"] == rows[0]["ticket"] and loaded[1]["response"] == rows[1]["response"]
    assert loaded[0]["_line"] == 2


@pytest.mark.parametrize(
    ("delimiter", "encoding", "name"),
    [("\t", "utf-8", "tab"), ("|", "utf-16", "pipe"), (",", "cp1252", "comma")],
)
def test_csv_delimiter_and_encoding_are_detected(
    tmp_path: Path, delimiter: str, encoding: str, name: str
) -> None:
    rows = [{**GOOD, "ticket": "Prix: 10€ – “trop cher”, non?"}, {**GOOD, "ticket": "a|b;c,d"}]
    path = write_table(tmp_path / "t.csv", rows, delimiter, encoding)
    table = csv_table.read_csv(path)
    assert [cells["ticket"] for _, cells in table.rows] == [row["ticket"] for row in rows]
    assert table.read_as == f"{path}: read as {name}-separated, encoding {encoding}"
    assert csv_table.read_csv(write_table(tmp_path / "u.csv", rows, ",", "utf-8-sig")).read_as is None


HEADER = "ticket,intent,response\r\n"
GOOD_LINE = "fine,order_status,ok\r\n"


@pytest.mark.parametrize(
    ("body", "line", "problem", "fix"),
    [
        (  # the quote opened on line 3 swallows the rest of the file
            GOOD_LINE + '"never closed,order_status,ok\r\n' + GOOD_LINE * 3,
            3,
            "a double quote opened in this record is never closed: the file ends inside it "
            "(the reader stopped on line 6)",
            'Close the quote; a quote inside a quoted cell is written twice ("").',
        ),
        (  # a multi-line quoted cell first: the bad record starts on physical line 5
            '"two\r\nlines",order_status,ok\r\n' + GOOD_LINE + 'a,"quoted" then text,ok\r\n',
            5,
            "a quoted cell is followed by text before the next comma",
            'Put the whole cell in double quotes and write each quote inside it twice ("")',
        ),
        (
            '"two\r\nlines",order_status,ok\r\n' + "Hi, where is it,order_status,ok\r\n",
            4,
            "row has 4 cells but the header has 3 columns",
            "A cell holds a comma (',') outside quotes: put that cell in double quotes.",
        ),
        (
            GOOD_LINE + "broken\r\nline,order_status,ok\r\n",
            3,
            "row has 1 cells but the header has 3 columns",
            "a line break inside a cell must be inside double quotes",
        ),
    ],
)
def test_bad_csv_names_the_physical_line_and_the_fault(
    tmp_path: Path, body: str, line: int, problem: str, fix: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER + body, encoding="utf-8", newline="")
    code, output = validate_cli(path)
    assert code == 2 and f"{path}:{line}: {problem}" in output and fix in output


def test_a_10_mb_cell_is_read_on_its_own_line(tmp_path: Path) -> None:
    huge = "word " * 2_000_000
    path = tmp_path / "t.csv"
    path.write_text(HEADER + GOOD_LINE + f'"{huge}",,ok\r\n', encoding="utf-8", newline="")
    code, output = validate_cli(path)
    assert code == 2 and f"{path}:3 field 'intent': required field is missing" in output
    assert "field larger than" not in output and len(output) < 2000
    (line, cells) = csv_table.read_csv(path).rows[1]
    assert line == 3 and cells["ticket"] == huge


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"ticket,ticket,response\r\na,b,c\r\n", ":1 field 'ticket': the header names column 'ticket' twice"),
        (b"ticket,intent,response\r\n", "has a header but no rows"),
        (
            "ticket,intent,response\r\ncafé,a,b\r\n".encode() + b"caf\xe9,a,b\r\n",
            ":3: mixes UTF-8 with bytes",
        ),
        (b"PK\x03\x04\x14\x00\x06\x00ticket\x00\x00", "holds NUL bytes, so it is not a text CSV"),
        (b"ticket\r\nhello\r\n", "required field(s) intent, response missing from every row (found: ticket)"),
    ],
)
def test_hostile_csv_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    code, output = validate_cli(path)
    assert code == 2 and expected in output


def test_a_missing_column_points_to_prepare_map(tmp_path: Path) -> None:
    path = write_table(tmp_path / "t.csv", [{"ticket": "a", "Category": "b", "response": "c"}], ",", "utf-8")
    code, output = validate_cli(path)
    assert code == 2
    assert f"{path}:1 field 'intent': required field(s) intent missing from every row" in output
    assert "(found: ticket, Category, response)" in output
    assert f"`scenario prepare support --from csv {path} --map intent=YOUR_COLUMN --out rows.jsonl`" in output
    rows = write_jsonl(tmp_path / "t.jsonl", [{"ticket": "a", "category": "b", "response": "c"}] * 2)
    code, output = validate_cli(rows)
    assert code == 2 and "missing from every row (found: ticket, category, response)" in output
    assert "scenario prepare support --from csv YOUR_EXPORT.csv --map intent=YOUR_COLUMN" in output


def test_csv_cells_take_the_schema_types_and_round_trip(tmp_path: Path) -> None:
    code_scenario = registry.load("code")
    row = {
        "kind": "python",
        "description": "d",
        "solution": "x = 1\n",
        "mutants": ["x = 2\n"],
        "runnable": False,
    }
    path = tmp_path / "t.csv"
    csv_table.write_csv(path, [row, {**row, "description": "e", "mutants": None}])
    loaded = dataset.load(path, code_scenario).rows
    assert {k: loaded[0][k] for k in row} == row and loaded[1]["mutants"] is None
    path.write_text(path.read_text().replace("false", "maybe", 1))
    with pytest.raises(DataError, match=r"t.csv:2 field 'runnable': expected true/false, got str 'maybe'"):
        dataset.load(path, code_scenario)


def test_ungrouped_rows_split_as_before(support_rows: list[dict]) -> None:
    rows = support_rows[:100]
    plain = splits.split(rows, 0.2, 42, "intent")
    assert splits.split(rows, 0.2, 42, "intent", [None] * 100) == plain
    assert splits.split(rows, 0.2, 42, "intent", [f"own{i}" for i in range(100)]) == plain
