"""`--data hf:ORG/NAME[:CONFIG][@SPLIT]`: read from the local datasets cache, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenario_pack.core.data import hub
from scenario_pack.core.errors import ConfigError, DataError

ROWS = [
    {"text": f"my card was charged twice ({i})", "label": "billing", "answer": "Sorry!"} for i in range(5)
]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A datasets cache holding acme/tickets as datasets leaves it after one load from the Hub."""
    import datasets
    from datasets.packaged_modules.json.json import Json

    folder = tmp_path / "datasets"
    source = tmp_path / "train.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    builder = Json(
        cache_dir=str(folder),
        dataset_name="tickets",
        config_name="default",
        data_files={"train": str(source)},
        hash="0" * 16,
    )
    builder.download_and_prepare()
    # where a Hub download of acme/tickets lands: <cache>/acme___tickets/default/<version>/<hash>
    (folder / "tickets").rename(folder / "acme___tickets")
    next((folder / "acme___tickets").glob("default-*")).rename(folder / "acme___tickets" / "default")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", folder)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return folder


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
