"""Shared fixtures: offline by default, a tiny random chat model built from a config, sample rows."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SUPPORT_DATA = ROOT / "data_templates" / "support" / "tickets.jsonl"
SUPPORT_DOCS = ROOT / "data_templates" / "support" / "docs"
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_model(target: Path) -> Path:
    """A 2-layer Llama with a word-level tokenizer fitted on the sample data: seconds to build and train."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [line for line in SUPPORT_DATA.read_text(encoding="utf-8").splitlines()]
    texts += [p.read_text(encoding="utf-8") for p in SUPPORT_DOCS.glob("*.md")]
    specials = ["<unk>", "<|im_start|>", "<|im_end|>"]
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tokenizer.train_from_iterator(texts, trainers.WordLevelTrainer(vocab_size=3000, special_tokens=specials))
    from tokenizers import decoders

    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
    )
    fast.chat_template = CHATML
    return save_tiny_llama(fast, target)


def save_tiny_llama(fast: Any, target: Path, max_positions: int = 1024, init_std: float = 0.02) -> Path:
    """A 2-layer random Llama sized to `fast`'s vocabulary, saved with it (seeded: the same every time).

    At transformers' default `init_std` its greedy answers repeat the prompt's last token; around 0.3
    they are varied, which a test comparing two copies' tokens needs."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=fast.vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=init_std,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = fast.pad_token_id
    model.generation_config.eos_token_id = fast.eos_token_id
    model.save_pretrained(target)
    fast.save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="session")
def support_rows() -> list[dict]:
    return [
        json.loads(line) for line in SUPPORT_DATA.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@pytest.fixture
def support_dir(tmp_path: Path, support_rows: list[dict]) -> Path:
    """A copy of the first 120 sample tickets with the docs beside them, as a user would lay them out."""
    folder = tmp_path / "support"
    folder.mkdir()
    with (folder / "tickets.jsonl").open("w", encoding="utf-8") as handle:
        for row in support_rows[:120]:
            handle.write(json.dumps(row) + "\n")
    (folder / "docs").symlink_to(SUPPORT_DOCS)
    return folder


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def cache_hub_dataset(
    folder: Path, monkeypatch: pytest.MonkeyPatch, repo: str, rows: list[dict], features: Any = None
) -> Path:
    """A datasets cache in `folder` holding `repo` (its train split) as datasets leaves it after one
    load from the Hub; datasets is pointed at it and kept offline."""
    import datasets
    from datasets.packaged_modules.json.json import Json

    org, name = repo.split("/")
    source = write_jsonl(folder / f"{name}.jsonl", rows)
    cache = folder / "datasets"
    builder = Json(
        cache_dir=str(cache),
        dataset_name=name,
        config_name="default",
        data_files={"train": str(source)},
        features=features,
        hash="0" * 16,
    )
    builder.download_and_prepare()
    # where a Hub download of org/name lands: <cache>/org___name/default/<version>/<hash>
    (cache / name).rename(cache / f"{org}___{name}")
    next((cache / f"{org}___{name}").glob("default-*")).rename(cache / f"{org}___{name}" / "default")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return cache
