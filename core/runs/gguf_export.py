"""A merged model as one GGUF file for llama.cpp and Ollama, with its tokenizer and chat template.

Only Llama-family models with a byte-level BPE tokenizer (the default model's kind) are written:
those are what llama.cpp's "llama" architecture and "gpt2" tokenizer model read. Tensor names come
from the gguf package's own name map; query and key weights are reordered for llama.cpp's rotary
layout, as its own converter does. Norms stay in fp32; the rest is f16 or q8_0.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import atomic
from ..errors import ScenarioPackError
from ..runtime import models

if TYPE_CHECKING:
    import numpy as np

TYPES = ("f16", "q8_0")  # the CLI imports this: numpy and gguf load only when a file is written


def write(model: Any, tokenizer: Any, target: Path, kind: str, base_name: str) -> list[str]:
    """Write `model` (merged, on CPU) as a GGUF file at `target`, atomically; return notes for the user."""
    import gguf

    config = model.config
    _check_supported(config, tokenizer)
    notes: list[str] = []
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)  # GGUFWriter opens the file itself
    writer_path = Path(name)
    try:
        writer = gguf.GGUFWriter(writer_path, "llama")
        _add_model_facts(writer, config, target.stem, kind)
        notes += _add_tokenizer(writer, tokenizer, config.vocab_size, base_name)
        _add_tensors(writer, model, kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        atomic.move_into_place(writer_path, target)
    except BaseException:
        writer_path.unlink(missing_ok=True)
        raise
    return notes


def modelfile(gguf_name: str, tokenizer: Any) -> str:
    """An Ollama Modelfile for the GGUF beside it: ChatML models get their template spelled out
    (Ollama's TEMPLATE is a Go template, not Jinja); others rely on the template inside the file."""
    lines = [f"FROM ./{gguf_name}"]
    template = tokenizer.chat_template or ""
    if "<|im_start|>" in template:
        lines += [
            'TEMPLATE """{{ if .System }}<|im_start|>system',
            "{{ .System }}<|im_end|>",
            "{{ end }}{{ range .Messages }}<|im_start|>{{ .Role }}",
            "{{ .Content }}<|im_end|>",
            '{{ end }}<|im_start|>assistant\n"""',
            'PARAMETER stop "<|im_end|>"',
        ]
    elif tokenizer.eos_token:
        lines.append(f'PARAMETER stop "{tokenizer.eos_token}"')
    lines.append("PARAMETER temperature 0")  # greedy, as the report's evaluation decoded
    return "\n".join(lines) + "\n"


def _check_supported(config: Any, tokenizer: Any) -> None:
    if config.model_type != "llama":
        raise ScenarioPackError(
            f"--gguf writes Llama-family models only; this run's model is '{config.model_type}'. "
            "Export with --merged and convert it with llama.cpp's convert_hf_to_gguf.py."
        )
    if _rope(config).get("rope_type", "default") != "default":
        raise ScenarioPackError(
            "--gguf does not write models with rope scaling yet. Export with --merged and convert it with "
            "llama.cpp's convert_hf_to_gguf.py."
        )
    if _bpe_model(tokenizer) is None:
        raise ScenarioPackError(
            "--gguf needs a byte-level BPE tokenizer (the kind llama.cpp reads as 'gpt2'); this model's "
            "tokenizer is another kind. Export with --merged and convert it with llama.cpp's "
            "convert_hf_to_gguf.py."
        )


def _bpe_model(tokenizer: Any) -> dict[str, Any] | None:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    spec = json.loads(backend.to_str())
    model = spec.get("model") or {}
    byte_level = "ByteLevel" in json.dumps(spec.get("pre_tokenizer")) or "ByteLevel" in json.dumps(
        spec.get("decoder")
    )
    return model if model.get("type") == "BPE" and byte_level else None


def _add_model_facts(writer: Any, config: Any, name: str, kind: str) -> None:
    import gguf

    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.num_key_value_heads or heads)
    writer.add_rope_freq_base(float(_rope(config).get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(config.vocab_size)
    file_type = gguf.LlamaFileType.MOSTLY_F16 if kind == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _rope(config: Any) -> dict[str, Any]:
    """transformers 5 keeps rope_theta and any scaling in rope_parameters."""
    return dict(getattr(config, "rope_parameters", None) or {})


def _add_tokenizer(writer: Any, tokenizer: Any, vocab_size: int, base_name: str) -> list[str]:
    import gguf

    bpe = _bpe_model(tokenizer)
    assert bpe is not None  # _check_supported refused other tokenizers
    by_id = {i: token for token, i in tokenizer.get_vocab().items()}
    special = {t.content for t in tokenizer.added_tokens_decoder.values() if t.special}
    added = {t.content for t in tokenizer.added_tokens_decoder.values()}
    tokens, types = [], []
    for i in range(vocab_size):  # the embedding may have more rows than the tokenizer has tokens
        token = by_id.get(i)
        if token is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        else:
            tokens.append(token)
            if token in special:
                types.append(gguf.TokenType.CONTROL)
            elif token in added:
                types.append(gguf.TokenType.USER_DEFINED)
            else:
                types.append(gguf.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in bpe.get("merges", [])]
    pre, notes = _pre_tokenizer(base_name)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for setter, token_id in (
        (writer.add_bos_token_id, tokenizer.bos_token_id),
        (writer.add_eos_token_id, tokenizer.eos_token_id),
        (writer.add_unk_token_id, tokenizer.unk_token_id),
        (writer.add_pad_token_id, tokenizer.pad_token_id),
    ):
        if token_id is not None:
            setter(token_id)
    writer.add_add_bos_token(bool(getattr(tokenizer, "add_bos_token", False)))
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)
    return notes


def _pre_tokenizer(base_name: str) -> tuple[str, list[str]]:
    """llama.cpp picks its text-splitting rules by name. The default model's shipped GGUF names its
    own; for other models the name is unknown here, so llama.cpp's default rules apply."""
    import gguf

    shipped = models.shipped_gguf(base_name)
    if shipped is not None:
        field = gguf.GGUFReader(shipped).get_field(gguf.Keys.Tokenizer.PRE)
        if field is not None:
            return str(field.contents()), []
    return "default", [
        "llama.cpp will split text with its default rules (tokenizer.ggml.pre = default): for this "
        "base model, its tokens may differ from transformers' on some inputs."
    ]


def _add_tensors(writer: Any, model: Any, kind: str) -> None:
    import gguf
    import numpy as np

    config = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    tied = getattr(config, "tie_word_embeddings", False)
    q8_0 = gguf.GGMLQuantizationType.Q8_0
    block = gguf.GGML_QUANT_SIZES[q8_0][0]  # q8_0 quantizes rows in blocks of 32 values
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reads a tied output from token_embd
        stem, _, suffix = hf_name.rpartition(".")
        gguf_name = names.get_name(stem)
        if gguf_name is None:
            raise ScenarioPackError(f"--gguf: no GGUF name for the model's tensor {hf_name}.")
        data = tensor.detach().to("cpu").float().numpy()
        if gguf_name.endswith("attn_q"):
            data = _rotary_order(data, heads)
        elif gguf_name.endswith("attn_k"):
            data = _rotary_order(data, kv_heads)
        name = f"{gguf_name}.{suffix}"
        if data.ndim == 1:
            writer.add_tensor(name, data.astype(np.float32))
        elif kind == "q8_0" and data.shape[-1] % block == 0:
            writer.add_tensor(name, gguf.quants.quantize(data, q8_0), raw_dtype=q8_0)
        else:
            writer.add_tensor(name, data.astype(np.float16))


def _rotary_order(weights: np.ndarray, heads: int) -> np.ndarray:
    """Within each head, interleave the two rotary halves as llama.cpp expects (transformers' GGUF
    loader undoes exactly this)."""
    half = weights.shape[0] // heads // 2
    return weights.reshape(heads, 2, half, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)
