"""The code scenario's `--from repo` importer, on a small Django shop with a plain-Python module
(tests/corpus/importers/django_shop), and how the code scenario checks and scores rows without tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core import atomic
from scenario_pack.core.cli import cli
from scenario_pack.core.data.importing import ImportResult
from scenario_pack.core.errors import DataError
from scenario_pack.core.plugins import registry
from scenario_pack.core.plugins.scenario import Scored
from scenario_pack.scenarios.code.importers import read_repo

SHOP = Path(__file__).parent / "corpus" / "importers" / "django_shop"
CODE = registry.load("code")
CONTEXT = CODE.build_context([], {"standard": None, "pass_k": 2}, None)
TESTED = {
    "pricing/tax.py::vat": "python",
    "pricing/tax.py::Basket.add": "python",
    "pricing/tax.py::Basket.gross": "python",
    "shop/models.py::Product.clean": "django",
    "shop/models.py::Product.discounted_price": "django",
    "shop/utils.py::format_price": "python",
    "shop/utils.py::parse_quantity": "python",
}
UNTESTED = {"shop/utils.py::split_sku": "python", "shop/views.py::product_detail": "django"}


@pytest.fixture(scope="module")
def shop() -> ImportResult:
    return read_repo(SHOP, {})


@pytest.fixture(scope="module")
def rows(shop: ImportResult) -> dict[str, dict]:
    return {row["id"]: row for row in shop.rows}


def test_documented_public_functions_and_methods_become_tasks(rows: dict[str, dict]) -> None:
    assert {i: r["kind"] for i, r in rows.items()} == {**TESTED, **UNTESTED}
    clean = rows["shop/models.py::Product.clean"]
    assert (
        clean["description"] == "Refuse a negative price, or a SKU without a family prefix such as TEA-0042."
    )
    assert clean["signature"] == "class Product(models.Model):\n    def clean(self) -> None:"
    assert clean["solution"] == (SHOP / "shop" / "models.py").read_text(encoding="utf-8")
    assert (clean["topic"], clean["task"]) == ("models", "code")
    parse = rows["shop/utils.py::parse_quantity"]
    assert parse["description"] == (
        "Read a quantity a customer typed: a whole number from 1 to 99, spaces allowed.\n\n"
        "Anything else raises ValueError."
    )
    assert parse["topic"] == "utils" and rows["pricing/tax.py::vat"]["topic"] == "tax"


def test_tests_migrations_helpers_and_dunders_are_skipped_by_reason(shop: ImportResult) -> None:
    counts = shop.skip_counts()
    assert counts["test file"] == 5 and counts["migration"] == 2
    assert counts["no functions"] == 3  # the two empty __init__ files and urls.py
    assert counts["dunder method"] == 2 and counts["private helper"] == 1
    wheres = {s.reason: s.where for s in shop.skipped}
    assert wheres["no docstring"] == "shop/utils.py:35 normalise_sku"
    assert wheres["private helper"] == "shop/utils.py:30 _round_cents"
    assert sum(counts.values()) == len(shop.skipped) == 17  # 14 above and 3 dropped tests


def test_attached_tests_are_cut_down_and_import_from_solution(rows: dict[str, dict]) -> None:
    clean = rows["shop/models.py::Product.clean"]["tests"]
    assert "from app.solution import Product" in clean
    assert "test_clean_refuses_negative_price" in clean and "test_discounted_price" not in clean
    assert "format_price" not in clean and "FormatPriceTests" not in clean  # unused import dropped
    vat = rows["pricing/tax.py::vat"]["tests"]
    assert "import solution as tax" in vat and "from solution import Basket" in vat
    assert "TestBasket" not in vat
    gross = rows["pricing/tax.py::Basket.gross"]["tests"]
    assert "test_gross_adds_vat_per_line" in gross and "test_unknown_rate" not in gross
    for row_id in TESTED:
        assert "from shop" not in rows[row_id]["tests"] and "from pricing" not in rows[row_id]["tests"]


def test_failing_and_unrunnable_tests_are_dropped_with_the_reason(shop: ImportResult, rows: dict) -> None:
    by_reason = {s.reason: s.where for s in shop.skipped}
    assert by_reason["test fails on the reference"].startswith(
        "shop/tests/test_utils.py::test_parse_quantity_reads_words for shop/utils.py::parse_quantity: "
    )
    assert "invalid literal for int()" in by_reason["test fails on the reference"]
    assert by_reason["tests need other repository modules"] == (
        "shop/tests/test_views.py::ProductDetailTests::test_detail_as_json for "
        "shop/views.py::product_detail (needs shop.models)"
    )
    assert by_reason["tests in a second test file (a row holds one)"] == (
        "shop/tests/test_models.py::FormatPriceTests::test_whole_amount_gets_cents for "
        "shop/utils.py::format_price"
    )
    parse = rows["shop/utils.py::parse_quantity"]["tests"]
    assert "test_parse_quantity_strips_spaces" in parse and "reads_words" not in parse
    assert "test_format_price_rounds_half_up" in rows["shop/utils.py::format_price"]["tests"]


def test_rows_without_a_passing_test_are_kept_and_marked(shop: ImportResult, rows: dict) -> None:
    for row_id in UNTESTED:
        assert (rows[row_id]["tests"], rows[row_id]["runnable"]) == ("", False)
    for row_id in TESTED:
        assert rows[row_id]["tests"].strip() and rows[row_id]["runnable"] is True
    assert "7 of 9 rows have tests that pass" in " ".join(shop.notes)


def test_imported_rows_pass_validation(shop: ImportResult, tmp_path: Path, tiny_model: Path) -> None:
    out = tmp_path / "rows.jsonl"
    atomic.write_jsonl(out, shop.rows)
    result = CliRunner().invoke(cli, ["validate", "code", "--data", str(out), "--model", str(tiny_model)])
    assert result.exit_code == 0, result.output
    assert f"{out}: 9 rows valid for scenario 'code'" in result.output


def test_untested_rows_score_by_syntax_lint_and_similarity_not_pass_at_1(shop: ImportResult) -> None:
    ordered = shop.rows
    answers = [f"```python\n{row['solution']}```" for row in ordered]
    parse = next(i for i, row in enumerate(ordered) if row["id"] == "shop/utils.py::parse_quantity")
    split = next(i for i, row in enumerate(ordered) if row["id"] == "shop/utils.py::split_sku")
    wrong = ordered[parse]["solution"].replace("1 <= value", "0 <= value")  # accepts 0: a test catches it
    rows = [*ordered, ordered[parse], ordered[split]]
    answers += [f"```python\n{wrong}```", "```python\ndef split_sku(sku):\n    return sku\n```"]
    parsed = [CODE.parse(a, CONTEXT) for a in answers]
    scores = CODE.score_batch(parsed, rows, CONTEXT)
    for row, score in zip(ordered, scores[: len(ordered)], strict=True):
        assert score["syntax_ok"] == 1.0 and score["chrf"] == pytest.approx(1.0)
        assert "lint_ok" in score and "violations" in score
        assert ("passed" in score) == row["runnable"]
        if row["runnable"]:
            assert score["passed"] == 1.0, row["id"]  # every attached test passes on the reference
    assert scores[-2]["passed"] == 0.0
    assert "passed" not in scores[-1] and scores[-1]["chrf"] < 0.5
    examples = [Scored(r, a, p, s, 0.1) for r, a, p, s in zip(rows, answers, parsed, scores, strict=True)]
    table = CODE.details(examples, examples, CONTEXT)["Rows behind each metric"]
    behind = {name: scored for name, scored, _ in table["rows"]}
    assert behind["pass_at_1"] == 8 and behind["chrf"] == behind["syntax_rate"] == len(rows) == 11
    assert CODE.primary_metric.aggregate(examples) == pytest.approx(7 / 8)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_unreadable_and_generated_files_are_skipped_with_the_reason(tmp_path: Path) -> None:
    repo = _write(
        tmp_path / "repo",
        {
            "app/broken.py": 'def total(xs):\n    """Sum."""\n    return sum(xs\n',
            "app/api_pb2.py": "# Generated by the protocol buffer compiler.  DO NOT EDIT!\n"
            'def f():\n    """F."""\n    return 1\n',
            "app/ok.py": 'def double(x: int) -> int:\n    """Twice x."""\n    return 2 * x\n',
            ".venv/lib/site.py": 'def hidden():\n    """Not read."""\n    return 0\n',
        },
    )
    result = read_repo(repo, {})
    assert [row["id"] for row in result.rows] == ["app/ok.py::double"]
    assert result.rows[0]["runnable"] is False
    skipped = {s.reason: s.where for s in result.skipped}
    assert skipped == {
        "unreadable file": "app/broken.py line 3: '(' was never closed",
        "generated file": "app/api_pb2.py",
    }


def test_private_helpers_only_on_request(tmp_path: Path) -> None:
    repo = _write(
        tmp_path / "repo", {"m.py": 'def _half(x: int) -> int:\n    """Half of x."""\n    return x // 2\n'}
    )
    with pytest.raises(
        DataError, match=r"no documented public function or method found \(skipped: 1 private"
    ):
        read_repo(repo, {})
    assert [r["id"] for r in read_repo(repo, {"include_private": True}).rows] == ["m.py::_half"]
    result = CliRunner().invoke(
        cli,
        [
            "prepare",
            "code",
            "--from",
            "repo",
            str(repo),
            "--out",
            str(tmp_path / "o.jsonl"),
            "--include-private",
        ],
    )
    assert "1 rows imported" in result.output, result.output  # a switch: no value after it
    help_text = CliRunner().invoke(cli, ["prepare", "code", "--help"]).output
    assert "--include-private" in help_text and "--allow-unconfined / --no-allow-unconfined" in help_text


def test_a_source_that_is_not_a_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found. Check the path"):
        read_repo(tmp_path / "missing", {})
    (tmp_path / "notes.txt").write_text("hi", encoding="utf-8")
    with pytest.raises(DataError, match="is a file, not a folder"):
        read_repo(tmp_path / "notes.txt", {})
    with pytest.raises(DataError, match=r"holds no Python files \(\.py\)"):
        read_repo(tmp_path, {})


ROW = {"kind": "python", "description": "Write half(x).", "solution": "def half(x):\n    return x // 2\n"}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (ROW, "field 'tests': is missing or empty, and the row is scored by running its tests. Add pytest"),
        (
            {**ROW, "tests": " "},
            "field 'tests': is missing or empty, and the row is scored by running its tests. Add pytest "
            'tests, or set "runnable": false',
        ),
        (
            {**ROW, "tests": "def test_x():\n    pass\n", "runnable": False},
            "field 'runnable': is false but the row has tests",
        ),
        (
            {**ROW, "task": "tests", "tests": "", "mutants": ["x = 1"], "runnable": False},
            "field 'runnable': is false on a tests row, which is scored by running tests. Remove 'runnable'.",
        ),
        ({**ROW, "tests": "", "runnable": "no"}, "field 'runnable': expected true/false, got str 'no'"),
    ],
)
def test_rows_without_tests_must_say_so(tmp_path: Path, row: dict, message: str) -> None:
    from scenario_pack.core.data import dataset
    from tests.conftest import write_jsonl

    path = write_jsonl(tmp_path / "rows.jsonl", [{**ROW, "tests": "", "runnable": False}, row])
    with pytest.raises(DataError) as info:
        dataset.load(path, CODE)
    assert f"{path}:2 {message}" in str(info.value)
    assert info.value.total == 1  # the first row, marked runnable: false without tests, is valid


def test_hostile_repository_files_are_not_read_and_credentials_are_refused(tmp_path: Path) -> None:
    """Symlinks out of the repository or to devices, FIFOs, huge files: skipped with the reason,
    never read; a module holding a key becomes no row, and is counted."""
    import os
    import shutil

    repo_copy = tmp_path / "repo"
    shutil.copytree(SHOP, repo_copy)
    secret = tmp_path / "outside.py"
    secret.write_text(
        'KEY = "-----BEGIN PRIVATE KEY-----"\n\n\ndef leak():\n    """Return the key."""\n    return KEY\n'
    )
    shop = repo_copy / "shop"
    (shop / "stolen.py").symlink_to(secret)
    (shop / "zero.py").symlink_to("/dev/zero")
    os.mkfifo(shop / "pipe.py")
    (shop / "big.py").write_text("x = 1\n" * 400_000)
    (shop / "keys.py").write_text(
        'API_KEY = "sk-abcdefghijklmnopqrstuvwxyz123456"\n\n\ndef auth_header():\n'
        '    """The header that authenticates a request to the payment API."""\n'
        '    return {"Authorization": f"Bearer {API_KEY}"}\n'
    )
    result = read_repo(repo_copy, {})
    reasons = {skip.where.split(":")[0]: skip.reason for skip in result.skipped}
    for name in ("stolen.py", "zero.py", "pipe.py", "big.py"):
        assert reasons[f"shop/{name}"] == "unreadable file", name
    refused = [skip.where for skip in result.skipped if skip.reason == "credentials in the code"]
    assert refused == ["shop/keys.py::auth_header (api key, password)"]
    text = json.dumps(result.rows)
    assert "PRIVATE KEY" not in text and "sk-abcdefghijklmnopqrstuvwxyz" not in text
    assert {row["id"] for row in result.rows} >= set(TESTED)  # the honest rows are all still there
