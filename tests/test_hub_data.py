"""`--data hf:ORG/NAME[:CONFIG][@SPLIT]`: read from the local datasets cache, offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core.cli import cli
from scenario_pack.core.data import hub
from scenario_pack.core.errors import ConfigError, DataError
from tests.conftest import cache_hub_dataset, write_jsonl

ROWS = [
    {"text": f"my card was charged twice ({i})", "label": "billing", "answer": "Sorry!"} for i in range(5)
]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return cache_hub_dataset(tmp_path, monkeypatch, "acme/tickets", ROWS)


def test_parse_names_repo_config_and_split() -> None:
    assert hub.parse("tickets.jsonl") is None
    assert hub.parse("hf:acme/tickets") == hub.HubData("acme/tickets", None, "train")
    assert str(hub.parse("hf:acme/tickets:en@test")) == "hf:acme/tickets:en@test"
    for bad in ("hf:tickets", "hf:acme/", "hf:a/b/c", "hf:acme/tickets@"):
        with pytest.raises(ConfigError, match="not a Hub dataset name"):
            hub.parse(bad)


def test_reads_a_cached_dataset_offline_with_column_maps(cache: Path) -> None:
    rows, digest = hub.read(hub.HubData("acme/tickets", None, "train"), ["ticket=text", "intent=label"])
    assert rows[0] == {"ticket": ROWS[0]["text"], "intent": "billing", "answer": "Sorry!"}
    assert len(rows) == 5 and len(digest) == 64


def test_a_missing_column_names_the_columns(cache: Path) -> None:
    with pytest.raises(DataError, match="hf:acme/tickets@train field 'body': no such column .* text, label"):
        hub.read(hub.HubData("acme/tickets", None, "train"), ["ticket=body"])


def test_an_unknown_split_says_which_exist(cache: Path) -> None:
    with pytest.raises(ConfigError, match="hf:acme/tickets@validation: .*train"):
        hub.read(hub.HubData("acme/tickets", None, "validation"))


def test_not_cached_and_offline_says_how_to_get_it(cache: Path) -> None:
    with pytest.raises(
        ConfigError, match="hf:acme/other@train: the dataset is not in the local datasets cache"
    ):
        hub.read(hub.HubData("acme/other", None, "train"))


def test_class_label_columns_read_as_their_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["billing", "shipping"])}
    )
    rows = [{"text": "where is my parcel", "label": 1}, {"text": "charged twice", "label": 0}]
    cache_hub_dataset(tmp_path, monkeypatch, "acme/intents", rows, features)
    read, _ = hub.read(hub.HubData("acme/intents", None, "train"), ["intent=label"])
    assert [r["intent"] for r in read] == ["shipping", "billing"]


# -- through the CLI: --data hf:ORG/NAME with --map, as a user types it ------------------------------

COLUMNS = {"ticket": "text", "intent": "label", "response": "answer"}  # support field: Hub column
MAPS = [arg for field, column in COLUMNS.items() for arg in ("--map", f"{field}={column}")]


@pytest.fixture
def tickets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, support_rows: list[dict]) -> list[dict]:
    """acme/tickets in a temporary datasets cache: the first 120 support tickets, columns named as a
    Hub dataset would name them."""
    rows = [{COLUMNS.get(k, k): v for k, v in row.items()} for row in support_rows[:120]]
    cache_hub_dataset(tmp_path, monkeypatch, "acme/tickets", rows)
    return rows


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_validate_reads_a_hub_dataset_with_maps(tickets: list[dict], tiny_model: Path) -> None:
    result = invoke("validate", "support", "--data", "hf:acme/tickets", *MAPS, "--model", tiny_model)
    assert result.exit_code == 0, result.output
    assert "hf:acme/tickets@train: 120 rows valid for scenario 'support'" in result.output
    assert "split: 86 train, 10 validation, 24 test" in result.output


def test_hub_dataset_errors_reach_the_user(tickets: list[dict], tmp_path: Path) -> None:
    unmapped = invoke("validate", "support", "--data", "hf:acme/tickets")
    assert unmapped.exit_code == 2
    assert (
        "hf:acme/tickets@train field 'ticket': required field(s) ticket, intent, response missing from "
        "every row" in unmapped.output
    )
    assert "Name the column that holds it: --map ticket=COLUMN." in unmapped.output

    wrong_column = invoke("validate", "support", "--data", "hf:acme/tickets", "--map", "ticket=body")
    assert wrong_column.exit_code == 2
    assert "field 'body': no such column (from --map ticket=body); the columns are: " in wrong_column.output

    missing = invoke("validate", "support", "--data", "hf:acme/other", *MAPS)
    assert missing.exit_code == 2
    assert "hf:acme/other@train: the dataset is not in the local datasets cache" in missing.output
    assert "datasets.load_dataset('acme/other')" in missing.output

    no_split = invoke("validate", "support", "--data", "hf:acme/tickets", "--test", "hf:acme/tickets", *MAPS)
    assert no_split.exit_code == 2 and "hf:acme/tickets@test: " in no_split.output

    bad_name = invoke("validate", "support", "--data", "hf:tickets")
    assert bad_name.exit_code == 2
    assert "Invalid value for '--data': 'hf:tickets' is not a Hub dataset name" in bad_name.output

    local = write_jsonl(tmp_path / "rows.jsonl", [{"ticket": "hi", "intent": "x", "response": "ok"}])
    ignored = invoke("validate", "support", "--data", local, "--map", "ticket=text")
    assert ignored.exit_code == 2
    assert "--map renames the columns of a Hub dataset" in ignored.output
    assert "Traceback" not in ignored.output
