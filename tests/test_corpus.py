"""Malformed and hostile input, through `scenario validate` and `scenario run`.

Every case must end in one clear message (file, line and field where they apply, and a fix),
exit code 2, no traceback, and nothing written to the output folder.
"""

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core.cli import cli

CORPUS = Path(__file__).parent / "corpus"
TRAIN = CORPUS / "train_rows.jsonl"


def _made(tmp: Path, name: str) -> list[str]:
    """Cases that cannot be committed as files: they are made in the test's own folder."""
    if name == "directory":
        (tmp / "folder.jsonl").mkdir()
        return ["--data", str(tmp / "folder.jsonl")]
    if name == "symlink_loop":
        (tmp / "a.jsonl").symlink_to(tmp / "b.jsonl")
        (tmp / "b.jsonl").symlink_to(tmp / "a.jsonl")
        return ["--data", str(tmp / "a.jsonl")]
    if name == "unreadable":
        path = tmp / "secret.jsonl"
        path.write_text(TRAIN.read_text())
        path.chmod(0)
        return ["--data", str(path)]
    if name == "five_mb_line":
        path = tmp / "huge.jsonl"
        rows = [json.loads(line) for line in TRAIN.read_text().splitlines()]
        rows[5]["ticket"] = "my order never arrived " * 220_000  # one line of about 5 MB
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return ["--data", str(path)]
    raise KeyError(name)


# (case id, arguments after the scenario name, texts the message must contain)
CASES: list[tuple[str, list[str], list[str]]] = [
    ("invalid_json", ["--data", "invalid_json_line3.jsonl"], ["invalid_json_line3.jsonl:3: invalid JSON"]),
    ("json_array", ["--data", "json_array.jsonl"], ["json_array.jsonl:1: file is a JSON array", "jq -c"]),
    ("empty", ["--data", "empty.jsonl"], ["empty.jsonl: file is empty"]),
    ("whitespace", ["--data", "whitespace_only.jsonl"], ["only whitespace"]),
    (
        "bom",
        ["--data", "bom_missing_field.jsonl"],
        ["bom_missing_field.jsonl:1 field 'response': required field"],
    ),
    ("not_utf8", ["--data", "latin1_bytes.jsonl"], ["latin1_bytes.jsonl:5: bytes are not UTF-8", "UTF-8"]),
    (
        "missing_field",
        ["--data", "missing_required_field.jsonl"],
        ["missing_required_field.jsonl:5 field 'intent': required field is missing"],
    ),
    ("null_field", ["--data", "null_required_field.jsonl"], ["null_required_field.jsonl:3 field 'response'"]),
    (
        "wrong_type",
        ["--data", "wrong_type_one_line.jsonl"],
        ["wrong_type_one_line.jsonl:7 field 'intent': expected text, got int"],
    ),
    (
        "nested_object",
        ["--data", "wrong_type_nested_object.jsonl"],
        ["wrong_type_nested_object.jsonl:2 field 'ticket': expected text, got dict"],
    ),
    (
        "empty_text",
        ["--data", "empty_string_text.jsonl"],
        ["empty_string_text.jsonl:4 field 'ticket': is empty"],
    ),
    (
        "not_object",
        ["--data", "not_an_object_line.jsonl"],
        ["not_an_object_line.jsonl:6: expected a JSON object"],
    ),
    ("arrays", ["--data", "only_blank_lines_and_arrays.jsonl"], [":2: expected a JSON object, got list"]),
    (
        "duplicated_ids",
        ["--data", "duplicated_ids.jsonl"],
        ["duplicated_ids.jsonl:10 field 'id'", "repeats line 4"],
    ),
    (
        "same_label",
        ["--data", "every_row_same_label.jsonl"],
        ["every row has the same intent 'order_status'"],
    ),
    (
        "many_errors",
        ["--data", "many_type_errors.jsonl"],
        ["60 data problems found", "... and 40 more problems"],
    ),
    (
        "field_missing_everywhere",
        ["--data", "many_errors.jsonl"],
        ["1 data problem found", "required field(s) intent, response missing from every row (found: ticket)"],
    ),
    (
        "unknown_intent_in_test",
        ["--data", "train_rows.jsonl", "--test", "unknown_intent_test.jsonl"],
        ["unknown_intent_test.jsonl:1 field 'intent': intent 'haunted_toaster' never occurs"],
    ),
    (
        "train_test_identical",
        ["--data", "train_rows.jsonl", "--test", "test_identical_to_train.jsonl"],
        ["test_identical_to_train.jsonl:1 field 'ticket': also appears in the training data"],
    ),
    (
        "csv_missing_column",
        ["--data", "csv_missing_column.csv"],
        ["csv_missing_column.csv:1 field 'response'", "missing"],
    ),
    ("csv_garbage", ["--data", "csv_garbage.csv"], ["csv_garbage.csv"]),
    (
        "parquet_wrong_schema",
        ["--data", "parquet_wrong_schema.parquet"],
        ["parquet_wrong_schema.parquet:1 field 'intent': expected text, got int"],
    ),
    (
        "parquet_missing_columns",
        ["--data", "parquet_missing_columns.parquet"],
        ["required field(s) ticket, intent, response missing from every row"],
    ),
    ("not_parquet", ["--data", "not_parquet.parquet"], ["not_parquet.parquet: cannot read as Parquet"]),
    ("wrong_extension", ["--data", "tickets.txt"], ["unsupported file type '.txt'"]),
    ("missing_file", ["--data", "no_such_file.jsonl"], ["no_such_file.jsonl: file not found"]),
    ("directory", ["@directory"], ["is a directory, not a data file"]),
    ("symlink_loop", ["@symlink_loop"], ["a.jsonl: is a broken or looping symbolic link"]),
    ("unreadable", ["@unreadable"], ["secret.jsonl: file is not readable"]),
    (
        "five_mb_line",
        ["@five_mb_line", "--max-length", "512"],
        ["huge.jsonl:6 field 'ticket': prompt alone is", "no answer token would be trained"],
    ),
    (
        "prompt_too_long",
        ["--data", "train_rows.jsonl", "--max-length", "40"],
        ["no answer token would be trained"],
    ),
    (
        "docs_without_text",
        ["--data", "train_rows.jsonl", "--docs", "docs_without_text"],
        ["docs_without_text: no readable documentation text found"],
    ),
    ("docs_missing", ["--data", "train_rows.jsonl", "--docs", "nowhere"], ["nowhere: docs path not found"]),
    (
        "config_unknown_key",
        ["--data", "train_rows.jsonl", "--config", "config_unknown_key.yaml"],
        ["train.learning_rate is not a known key"],
    ),
    (
        "config_wrong_type",
        ["--data", "train_rows.jsonl", "--config", "config_wrong_type.yaml"],
        ["train.epochs: expected int or float, got 'two'", "train.batch_size: expected int, got 4.5"],
    ),
    (
        "config_invalid_yaml",
        ["--data", "train_rows.jsonl", "--config", "config_invalid_yaml.yaml"],
        ["config_invalid_yaml.yaml:", "not valid YAML"],
    ),
    (
        "config_not_mapping",
        ["--data", "train_rows.jsonl", "--config", "config_not_mapping.yaml"],
        ["expected a mapping of sections"],
    ),
    ("set_malformed", ["--data", "train_rows.jsonl", "--set", "lr=0.1"], ["expected section.key=value"]),
    ("limit_zero", ["--data", "train_rows.jsonl", "--limit", "0"], ["data.limit=0: must be positive"]),
    (
        "test_size_too_big",
        ["--data", "train_rows.jsonl", "--set", "data.test_size=40"],
        ["cannot hold out 40 of 40"],
    ),
]


def _args(case: list[str], tmp: Path) -> list[str]:
    out: list[str] = []
    for i, item in enumerate(case):
        if item.startswith("@"):
            out += _made(tmp, item[1:])
        elif i > 0 and case[i - 1] in ("--data", "--test", "--docs", "--config"):
            out.append(str(CORPUS / item))
        else:
            out.append(item)
    return out


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30 and len(list(CORPUS.iterdir())) >= 30


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(("case", "args", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_message(
    command: str, case: str, args: list[str], expected: list[str], tiny_model: Path, tmp_path: Path
) -> None:
    if case == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads any file: permissions cannot make a file unreadable")
    out = tmp_path / "out"
    extra = ["--output", str(out)] if command == "run" else []
    result = CliRunner().invoke(
        cli, [command, "support", "--model", str(tiny_model), *_args(args, tmp_path), *extra]
    )
    assert result.exit_code == 2, result.output
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
    for text in expected:
        assert text in result.output
    assert not out.exists()


def test_resume_without_output_is_refused(tiny_model: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", "support", "--data", str(TRAIN), "--model", str(tiny_model), "--resume"]
    )
    assert result.exit_code == 2 and "--resume needs --output" in result.output
