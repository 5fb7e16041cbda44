"""GGUF export: the file transformers' GGUF loader (llama.cpp's format) reads back is the model, and
`scenario export RUN --gguf` writes it from a finished run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from scenario_pack.core.errors import ScenarioPackError
from scenario_pack.core.runs import gguf_export
from tests.conftest import CHATML, SUPPORT_DATA, save_tiny_llama
from tests.test_cli import invoke, run_tiny

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


def greedy(model: object, tokenizer: object, texts: list[str] = PROMPTS) -> list[list[int]]:
    out = []
    for text in texts:
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


# `scenario export RUN --gguf`: a finished tiny run, exported and read back, against its merged export.

# Teacher-forced next-token agreement with the unrounded merged model over 8 unseen tickets x 12 tokens,
# on a random model (flat logits: the hard case for rounding). Measured 0.990 (f16) and 0.854 (q8_0);
# a file without the rotary reordering agreed on 0.010.
FLOORS = {"f16": 0.95, "q8_0": 0.75}
TICKETS = [
    json.loads(line)["ticket"] for line in SUPPORT_DATA.read_text(encoding="utf-8").splitlines()[40:48]
]


@pytest.fixture(scope="module")
def bpe_run(bpe_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`scenario run support` (first 40 sample tickets, no docs) on a copy of the BPE model whose
    greedy answers vary (init std 0.3): a finished run whose exports can be told apart."""
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("bpe-run")
    model = save_tiny_llama(AutoTokenizer.from_pretrained(bpe_model), folder / "model", 512, init_std=0.3)
    rows = SUPPORT_DATA.read_text(encoding="utf-8").splitlines()[:40]
    (folder / "tickets.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = folder / "run"
    # fp32: the same run on any CPU; no intent hints: with them one ticket's prompt outgrows the tiny
    # model's 512 positions in this verbose tokenizer (the export is what is under test here)
    extra = ("--baseline", "none", "--lr", "0.05", "--precision", "fp32", "--set", "scenario.intent_hints=0")
    result = run_tiny(model, folder / "tickets.jsonl", out, *extra)
    assert result.exit_code == 0, result.output
    return out


def next_token_agreement(reference: object, other: object, tokenizer: object) -> float:
    """Share of positions of `reference`'s greedy answers where `other`'s top next token is the same
    (teacher-forced: one early difference does not count against every later token)."""
    same = total = 0
    for text, answer in zip(TICKETS, greedy(reference, tokenizer, TICKETS), strict=True):
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
        sequence = torch.cat([ids, torch.tensor([answer])], dim=1)
        with torch.no_grad():
            picks = [m(sequence).logits[0, ids.shape[1] - 1 : -1].argmax(-1) for m in (reference, other)]
        same += int((picks[0] == picks[1]).sum())
        total += len(answer)
    return same / total


def test_export_gguf_f16_and_q8_0_generate_like_the_merged_model(bpe_run: Path, tmp_path: Path) -> None:
    merged, f16, q8 = tmp_path / "merged", tmp_path / "support.gguf", tmp_path / "support-q8.gguf"
    result = invoke("export", str(bpe_run), "--merged", str(merged), "--gguf", str(f16))
    assert result.exit_code == 0, result.output
    assert invoke("export", str(bpe_run), "--gguf", str(q8), "--type", "q8_0").exit_code == 0
    model, tokenizer = load(merged)
    f16_model, _ = read_back(f16)
    q8_model, _ = read_back(q8)
    agreement = {
        kind: next_token_agreement(model, m, tokenizer)
        for kind, m in (("f16", f16_model), ("q8_0", q8_model))
    }
    assert agreement["f16"] >= FLOORS["f16"] and agreement["q8_0"] >= FLOORS["q8_0"], agreement
    # the f16 file holds the merged model's weights rounded to f16, and generates exactly as they do
    model.load_state_dict({name: w.half().float() for name, w in model.state_dict().items()})
    assert greedy(f16_model, tokenizer, TICKETS) == greedy(model, tokenizer, TICKETS)
    assert (tmp_path / "support.Modelfile").read_text().startswith("FROM ./support.gguf\n")
    assert (tmp_path / "support-q8.Modelfile").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "merged",
        "support-q8.Modelfile",
        "support-q8.gguf",
        "support.Modelfile",
        "support.gguf",
    ]  # no temporary file left behind
    card = (merged / "README.md").read_text()
    assert "library_name: transformers" in card and "A merged checkpoint:" in card


def test_export_refuses_to_overwrite_and_prompt_tuning(bpe_run: Path, tmp_path: Path) -> None:
    taken = tmp_path / "model.gguf"
    taken.write_text("mine")
    result = invoke("export", str(bpe_run), "--gguf", str(taken))
    assert result.exit_code == 2 and f"{taken} exists. Choose a new file name" in result.output
    assert taken.read_text() == "mine" and not (tmp_path / "model.Modelfile").exists()
    prompt_tuned = Path(shutil.copytree(bpe_run, tmp_path / "pt"))
    report = json.loads((prompt_tuned / "report.json").read_text())
    report["training"]["method"] = "prompt-tuning"
    (prompt_tuned / "report.json").write_text(json.dumps(report))
    result = invoke("export", str(prompt_tuned), "--gguf", str(tmp_path / "pt.gguf"))
    assert result.exit_code == 2 and "a prompt-tuning run cannot be merged or converted" in result.output
    nothing = invoke("export", str(bpe_run))
    assert nothing.exit_code == 2 and "nothing to export" in nothing.output
