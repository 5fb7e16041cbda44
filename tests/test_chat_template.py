"""`--chat-template FILE`: a Jinja chat template for a base model that has none, saved with the adapter."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core import config as config_mod
from scenario_pack.core.cli import cli
from scenario_pack.core.runs.start import load_tokenizer
from scenario_pack.core.training import tuned

# a template the tiny model never had: its markers show whose template rendered a prompt
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] | upper }}: {{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>ASSISTANT: {% endif %}"
)
QUICK = "--max-steps 2 --batch-size 4 --set eval.max_new_tokens=8 --set eval.bootstrap=50 --quiet".split()


@pytest.fixture
def base_model(tiny_model: Path, tmp_path: Path) -> Path:
    """The tiny model as a base model ships: without a chat template."""
    target = tmp_path / "base-model"
    shutil.copytree(tiny_model, target, ignore=shutil.ignore_patterns("chat_template.jinja"))
    return target


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "upper.jinja"
    path.write_text(TEMPLATE, encoding="utf-8")
    return path


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def validate(data: Path, model: Path, *extra: object):
    return invoke("validate", "support", "--data", data, "--model", model, *extra)


def test_a_model_without_a_template_names_the_flag(base_model: Path, support_dir: Path) -> None:
    result = validate(support_dir / "tickets.jsonl", base_model)
    assert result.exit_code == 2
    assert "has no chat template. Give it one with --chat-template FILE" in result.output


def test_a_missing_or_broken_template_file_is_refused(
    base_model: Path, support_dir: Path, tmp_path: Path
) -> None:
    data = support_dir / "tickets.jsonl"
    missing = validate(data, base_model, "--chat-template", tmp_path / "nope.jinja")
    assert missing.exit_code == 2
    assert f"--chat-template {tmp_path / 'nope.jinja'}: file not found." in missing.output

    broken = tmp_path / "broken.jinja"
    broken.write_text("{% for m in messages %}\n{{ m['content'] }}", encoding="utf-8")  # no endfor
    result = validate(data, base_model, "--chat-template", broken)
    assert result.exit_code == 2
    assert f"--chat-template {broken}:2: not a usable Jinja chat template (" in result.output
    assert "Traceback" not in result.output


def test_the_template_renders_the_prompts_and_is_saved_with_the_adapter(
    base_model: Path, support_dir: Path, template: Path, tmp_path: Path
) -> None:
    model = {"name": str(base_model), "chat_template": str(template)}
    config = config_mod.resolve({}, None, [("test", {"model": model})])
    prompt = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "where is my order"}]
    rendered = load_tokenizer(config, print).apply_chat_template(
        prompt, tokenize=False, add_generation_prompt=True
    )
    assert rendered.startswith("<|im_start|>SYSTEM: be brief") and rendered.endswith("ASSISTANT: ")

    out = tmp_path / "run"
    result = invoke(
        "run", "support", "--data", support_dir / "tickets.jsonl", "--model", base_model, "--output", out,
        "--chat-template", template, "--limit", "60", *QUICK,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "adapter" / "chat_template.jinja").read_text(encoding="utf-8") == TEMPLATE
    # chat, generate and export load the tokenizer saved with the adapter
    saved = tuned.load_tokenizer(out / "adapter")
    assert saved.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True) == rendered
    assert f"chat_template: {template}" in (out / "config.yaml").read_text()
