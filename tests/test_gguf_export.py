"""GGUF export: the file transformers' GGUF loader (llama.cpp's format) reads back is the model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scenario_pack.core.errors import ScenarioPackError
from scenario_pack.core.runs import gguf_export
from tests.conftest import CHATML, SUPPORT_DATA, save_tiny_llama

PROMPTS = ["my card was charged twice", "how do I reset my password?", "cancel my order please"]


@pytest.fixture(scope="module")
def bpe_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a byte-level BPE tokenizer (the default model's kinds), built from a config."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(SUPPORT_DATA.read_text(encoding="utf-8").splitlines(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        pad_token="<|im_end|>",
    )
    fast.chat_template = CHATML
    return save_tiny_llama(fast, tmp_path_factory.mktemp("bpe") / "bpe-llama", max_positions=512)


def load(path: Path) -> tuple[object, object]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def export(model_dir: Path, target: Path, kind: str) -> list[str]:
    model, tokenizer = load(model_dir)
    return gguf_export.write(model, tokenizer, target, kind, str(model_dir))


def read_back(target: Path) -> tuple[object, object]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(target.parent, gguf_file=target.name, dtype=torch.float32)
    return model, AutoTokenizer.from_pretrained(target.parent, gguf_file=target.name)


def greedy(model: object, tokenizer: object) -> list[list[int]]:
    out = []
    for text in PROMPTS:
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
        tokens = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        out.append(tokens[0, ids.shape[1] :].tolist())
    return out


def test_f16_file_reads_back_as_the_model_rounded_to_f16(bpe_model: Path, tmp_path: Path) -> None:
    target = tmp_path / "model.gguf"
    notes = export(bpe_model, target, "f16")
    assert notes and "tokenizer.ggml.pre = default" in notes[0]  # not the default model: said, not hidden
    original, tokenizer = load(bpe_model)
    loaded, loaded_tokenizer = read_back(target)
    rounded = {k: v.half().float() for k, v in original.state_dict().items()}
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, rounded[name]), name  # norms are stored in fp32, so rounding is exact
    original.load_state_dict(rounded)
    assert greedy(loaded, tokenizer) == greedy(original, tokenizer)
    for text in [*PROMPTS, "Order #A-1234: refund 19.99 EUR, café ünïcödé 😀"]:
        assert loaded_tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert loaded_tokenizer.chat_template == tokenizer.chat_template
    assert loaded_tokenizer.eos_token == "<|im_end|>"


def test_q8_0_file_is_smaller_and_close(bpe_model: Path, tmp_path: Path) -> None:
    f16, q8 = tmp_path / "f16.gguf", tmp_path / "q8.gguf"
    export(bpe_model, f16, "f16")
    export(bpe_model, q8, "q8_0")
    assert q8.stat().st_size < f16.stat().st_size
    original, _ = load(bpe_model)
    loaded, _ = read_back(q8)
    weights = original.state_dict()
    for name, tensor in loaded.state_dict().items():
        scale = weights[name].abs().max().item()
        assert (tensor - weights[name]).abs().max().item() <= scale / 127 + 1e-6, name


def test_refuses_a_tokenizer_llama_cpp_cannot_read(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ScenarioPackError, match="byte-level BPE"):
        export(tiny_model, tmp_path / "model.gguf", "f16")
    assert list(tmp_path.iterdir()) == []  # no half-written file left behind


def test_modelfile_spells_out_a_chatml_template(bpe_model: Path) -> None:
    _, tokenizer = load(bpe_model)
    text = gguf_export.modelfile("model.gguf", tokenizer)
    assert text.startswith("FROM ./model.gguf\n") and 'PARAMETER stop "<|im_end|>"' in text
