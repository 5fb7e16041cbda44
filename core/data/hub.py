"""Rows from a Hugging Face Hub dataset: `--data hf:ORG/NAME[:CONFIG][@SPLIT]`, read through datasets.

Offline, datasets reads a dataset it has prepared before from its own cache (HF_DATASETS_CACHE);
when the dataset is neither there nor reachable the error names it and says how to get it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, data_error

PREFIX = "hf:"


@dataclass(frozen=True)
class HubData:
    """One split of one configuration of a Hub dataset."""

    repo: str
    config: str | None
    split: str

    def __str__(self) -> str:
        return f"{PREFIX}{self.repo}{':' + self.config if self.config else ''}@{self.split}"


def parse(text: str, default_split: str = "train") -> HubData | None:
    """`hf:org/name[:config][@split]` as HubData; None for anything that is not an hf: name."""
    if not text.startswith(PREFIX):
        return None
    rest, at, split = text[len(PREFIX) :].partition("@")
    repo, colon, config = rest.partition(":")
    if repo.count("/") != 1 or not all(repo.split("/")) or (at and not split) or (colon and not config):
        raise ConfigError(
            f"'{text}' is not a Hub dataset name. Write hf:ORG/NAME, optionally with :CONFIG and @SPLIT, "
            "e.g. hf:acme/tickets:en@train."
        )
    return HubData(repo, config or None, split or default_split)


def read(source: HubData, maps: Sequence[str] = ()) -> tuple[list[dict[str, Any]], str]:
    """The split's rows (with `--map field=column` renames applied, class labels by name) and a
    fingerprint of their content."""
    import datasets

    try:
        table = datasets.load_dataset(source.repo, source.config, split=source.split)
    except (ConnectionError, FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise ConfigError(
            f"{source}: the dataset is not in the local datasets cache and the Hub cannot be reached "
            f'({str(exc).splitlines()[0]}). Where there is a network, load it once (python -c "import '
            f"datasets; datasets.load_dataset('{source.repo}')\") so the cache holds it, or export it to "
            "JSONL and pass that file to --data."
        ) from exc
    except ValueError as exc:  # unknown split or configuration: datasets lists the ones that exist
        raise ConfigError(f"{source}: {str(exc).splitlines()[0]}") from exc
    renames = _mapping(source, maps, table.column_names)
    labels = {name: kind for name, kind in table.features.items() if isinstance(kind, datasets.ClassLabel)}
    rows = [_renamed(_label_names(row, labels), renames) for row in table]
    digest = hashlib.sha256(
        "\n".join(json.dumps(r, sort_keys=True, default=str) for r in rows).encode("utf-8")
    ).hexdigest()
    return rows, digest


def _mapping(source: HubData, maps: Sequence[str], columns: list[str]) -> dict[str, str]:
    """Column -> field from `--map field=column`."""
    renames = {}
    for item in maps:
        field, sep, column = (part.strip() for part in item.partition("="))
        if not sep or not field or not column:
            raise ConfigError(f"--map '{item}' must look like field=column, e.g. --map ticket=text.")
        if column not in columns:
            raise data_error(
                source,
                None,
                column,
                f"no such column (from --map {item}); the columns are: {', '.join(columns)}",
                "Use one of those names after the '='.",
            )
        renames[column] = field
    return renames


def _label_names(row: dict[str, Any], labels: dict[str, Any]) -> dict[str, Any]:
    """A class-label column as its names ("billing"), not the integers datasets stores (-1: none)."""
    for name, kind in labels.items():
        value = row[name]
        row[name] = kind.int2str(value) if value is not None and value >= 0 else None
    return row


def _renamed(row: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    return {renames.get(key, key): value for key, value in row.items()}
