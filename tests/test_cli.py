"""The user's path through the CLI, on the tiny model: exit codes, messages, files written."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core.cli import cli
from tests.conftest import ROOT, write_jsonl

QUICK = "--max-steps 2 --batch-size 4 --set eval.max_new_tokens=8 --set eval.bootstrap=50 --quiet".split()


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def run_tiny(model: Path, data: Path, out: Path, *extra: str):
    """`scenario run support` on the tiny model with a two-step training budget."""
    return invoke(
        "run", "support", "--data", str(data), "--model", str(model), "--output", str(out), *QUICK, *extra
    )


def test_run_writes_a_complete_report(tiny_model: Path, support_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_tiny(tiny_model, support_dir / "tickets.jsonl", out)
    assert result.exit_code == 0, result.output
    for name in (
        "report.json",
        "report.md",
        "report.html",
        "predictions.jsonl",
        "config.yaml",
        "train_log.jsonl",
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "adapter/README.md",  # the model card
        "data/test.jsonl",
    ):
        assert (out / name).exists(), name
    report = json.loads((out / "report.json").read_text())
    assert report["primary_metric"] == "intent_accuracy"
    assert report["data"]["rows"] == {"train": 86, "validation": 10, "test": 24}
    assert {"ticket", "intent", "response", "channel"} <= set(report["data"]["fields"])
    assert report["model"]["source"] is None  # only the default model's 4-bit origin needs saying
    assert report["metrics"]["seconds_per_answer"]["direction"] == "lower"
    assert report["training"]["steps"] == 2 and report["training"]["loss_curves"]["train"]
    assert report["context"]["passages"] > 10  # docs/ beside the data file were found
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 24 and {"raw", "parsed", "scores"} <= set(predictions[0]["tuned"])
    # intents are chosen from the training labels by every model, and what that hides is reported
    closed = report["evaluation"]["closed_set"]
    assert closed["labels"] == len(report["context"]["intents"].split(", "))
    assert set(closed["outside_set_unconstrained"]) == {"base", "few_shot", "tuned"}
    assert all(p[m]["raw"].startswith("intent :") for p in predictions for m in ("base", "few_shot", "tuned"))
    assert "labels the run knows" in (out / "report.md").read_text()
    # every model stage was estimated before it ran, and the report sets the estimate beside it
    assert set(report["expected_timings"]) == {"base_eval", "few_shot_eval", "train", "tuned_eval"}
    assert all(seconds > 0 for seconds in report["expected_timings"].values())
    assert f"base_eval {report['timings']['base_eval']:.1f} (expected " in (out / "report.md").read_text()
    assert "intent_accuracy" in result.output and "report:" in result.output
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "Intent F1 per label" in html
    assert not (out / "checkpoints").exists()

    # re-scoring and re-rendering need no model
    rescored = invoke("eval", str(out))
    assert rescored.exit_code == 0 and "re-scored 24 rows" in rescored.output
    again = json.loads((out / "report.json").read_text())
    assert again["metrics"] == report["metrics"] and again["data"] == report["data"]
    (out / "report.md").unlink()
    assert invoke("report", str(out)).exit_code == 0 and (out / "report.md").exists()

    # each finding on its own line (the redaction counts once ran into the next line)
    (out / "report.json").write_text(
        json.dumps({**again, "data": {**again["data"], "redacted": {"email": 3, "card": 8}}})
    )
    assert invoke("report", str(out)).exit_code == 0
    lines = (out / "report.md").read_text().splitlines()
    assert "- private data redacted before training: 3 email, 8 card" in lines


def test_adapter_loads_with_peft(tiny_model: Path, support_dir: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "run"
    assert run_tiny(tiny_model, support_dir / "tickets.jsonl", out, "--limit", "60").exit_code == 0
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), out / "adapter")
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_bad_data_exits_2_and_writes_nothing(tmp_path: Path, tiny_model: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [{"ticket": "hi", "intent": "x"}] * 3)
    out = tmp_path / "run"
    for extra in (["run", "support", "--output", str(out)], ["validate", "support"]):
        result = invoke(*extra, "--data", str(data), "--model", str(tiny_model))
        assert result.exit_code == 2, result.output
        assert f"{data} field 'response': required field(s) response missing from every row" in result.output
        assert "scenario prepare support --from csv" in result.output
        assert "Traceback" not in result.output
    assert not out.exists()


def test_test_file_overlap_and_unknown_labels_are_refused(
    support_dir: Path, tmp_path: Path, support_rows: list[dict]
) -> None:
    data = support_dir / "tickets.jsonl"
    leaked = write_jsonl(tmp_path / "test.jsonl", support_rows[:2])
    result = invoke("validate", "support", "--data", str(data), "--test", str(leaked))
    assert result.exit_code == 2 and "also appears in the training data" in result.output
    unknown = write_jsonl(tmp_path / "test2.jsonl", [{**support_rows[200], "intent": "haunted_toaster"}])
    result = invoke("validate", "support", "--data", str(data), "--test", str(unknown))
    assert (
        result.exit_code == 2
        and "intent 'haunted_toaster' never occurs in the training rows" in result.output
    )


def validate(data: Path, *extra: str):
    return invoke("validate", "support", "--data", str(data), *extra)


def test_validate_reports_counts_and_tokens(support_dir: Path, tiny_model: Path) -> None:
    result = validate(support_dir / "tickets.jsonl", "--model", str(tiny_model))
    assert result.exit_code == 0, result.output
    assert "120 rows valid" in result.output and "tokens per example" in result.output
    assert "would be truncated at max_length 512" in result.output


@pytest.mark.parametrize(
    ("scenario", "field", "value"), [("content", "type", "blog"), ("code", "kind", "python")]
)
def test_one_value_of_a_split_only_label_is_fine(
    scenario: str, field: str, value: str, tmp_path: Path, tiny_model: Path
) -> None:
    sample = ROOT / "data_templates" / scenario / ("posts.jsonl" if scenario == "content" else "tasks.jsonl")
    rows = [json.loads(line) for line in sample.read_text(encoding="utf-8").splitlines()]
    data = write_jsonl(tmp_path / "rows.jsonl", [r for r in rows if r[field] == value][:40])
    if scenario == "content":
        (tmp_path / "off_brand.jsonl").write_bytes((sample.parent / "off_brand.jsonl").read_bytes())
    result = invoke("validate", scenario, "--data", str(data), "--model", str(tiny_model))
    assert result.exit_code == 0, result.output
    assert f"40 rows valid for scenario '{scenario}'" in result.output
    assert "not stratified" not in result.output  # one value: nothing to stratify, nothing to warn about


def test_the_split_says_once_which_part_is_stratified(support_dir: Path, tiny_model: Path) -> None:
    result = validate(support_dir / "tickets.jsonl", "--model", str(tiny_model), "--limit", "40")
    assert result.exit_code == 0, result.output
    assert "stratified by intent" not in result.output.split("split:")[1].split("\n")[0]
    assert result.output.count("not stratified") == 1
    assert "the test and validation splits are not stratified by intent" in result.output
    result = validate(support_dir / "tickets.jsonl", "--model", str(tiny_model))
    assert "24 test (test stratified by intent)" in result.output


def test_config_numbers_and_seeds(support_dir: Path, tmp_path: Path, tiny_model: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("train:\n  lr: 1e-4\n  max_steps: 2\n")  # YAML 1.1 reads 1e-4 as text
    result = validate(support_dir / "tickets.jsonl", "--model", str(tiny_model), "--config", str(config))
    assert result.exit_code == 0, result.output
    result = validate(support_dir / "tickets.jsonl", "--model", str(tiny_model), "--seed", "-1")
    assert result.exit_code == 2 and "run.seed=-1: use a whole number from 0 to 4294967295" in result.output
    assert "Traceback" not in result.output


def test_batch_size_help_says_what_it_counts() -> None:
    result = invoke("run", "support", "--help")
    text = " ".join(result.output.replace("-\n", "-").split())  # click wraps at hyphens too
    assert "examples per forward pass (see --grad-accum)" in text
    assert "forward passes per optimizer step (each of --batch-size examples)" in text


def test_unknown_scenario_and_config_errors(support_dir: Path, tmp_path: Path) -> None:
    result = invoke("run", "suport", "--data", "x.jsonl")
    assert result.exit_code == 2 and "Did you mean 'support'" in result.output
    result = invoke(
        "validate", "support", "--data", str(support_dir / "tickets.jsonl"), "--set", "train.lrr=1"
    )
    assert result.exit_code == 2 and "Did you mean 'lr'" in result.output


def test_missing_model_is_explained(support_dir: Path, tmp_path: Path) -> None:
    result = validate(support_dir / "tickets.jsonl", "--model", str(tmp_path / "no-such-model"))
    assert result.exit_code == 2 and "does not exist" in result.output


def test_uncached_hub_model_fails_fast_offline(support_dir: Path) -> None:
    result = invoke(
        "validate", "support", "--data", str(support_dir / "tickets.jsonl"), "--model", "someorg/nothing"
    )
    assert result.exit_code == 2
    assert (
        "not in the local Hugging Face cache and the Hub cannot be reached (HF_HUB_OFFLINE is set)"
        in result.output
    )
    assert "(hf download someorg/nothing)" in result.output  # the CLI the installed huggingface_hub ships


@pytest.mark.parametrize("method", ["full", "prompt-tuning"])
def test_other_methods_run_end_to_end(
    tiny_model: Path, support_dir: Path, tmp_path: Path, method: str
) -> None:
    out = tmp_path / method
    result = run_tiny(tiny_model, support_dir / "tickets.jsonl", out, "--limit", "60", "--method", method)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["method"] == method and report["config"]["train"]["method"] == method
    weights = "model.safetensors" if method == "full" else "adapter_model.safetensors"
    assert (out / "adapter" / weights).exists()


def test_resume_reuses_finished_stages(tiny_model: Path, support_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    data = support_dir / "tickets.jsonl"
    assert run_tiny(tiny_model, data, out, "--limit", "60").exit_code == 0
    base_before = (out / "stages" / "base_outputs.json").read_text()
    adapter_time = (out / "adapter" / "adapter_model.safetensors").stat().st_mtime_ns
    for name in ("report.json", "report.html", "stages/tuned_outputs.json"):
        (out / name).unlink()  # as if the run died after training
    result = run_tiny(tiny_model, data, out, "--limit", "60", "--resume")
    assert result.exit_code == 0, result.output
    assert (out / "report.html").exists()
    assert (out / "stages" / "base_outputs.json").read_text() == base_before
    assert (out / "adapter" / "adapter_model.safetensors").stat().st_mtime_ns == adapter_time


def test_merged_export_generates_like_base_plus_adapter(
    tiny_model: Path, support_dir: Path, tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "run"
    assert (
        run_tiny(
            tiny_model,
            support_dir / "tickets.jsonl",
            out,
            "--limit",
            "60",
            "--lr",
            "0.05",
            "--set",
            "train.lora_layers=null",  # every layer adapted: the check below compares all of them
        ).exit_code
        == 0
    )
    merged = tmp_path / "merged"
    result = invoke("export", str(out), "--merged", str(merged))
    assert result.exit_code == 0, result.output
    tokenizer = AutoTokenizer.from_pretrained(merged)
    assert tokenizer.chat_template
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "where is my order"}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    plain = AutoModelForCausalLM.from_pretrained(merged)
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), out / "adapter")
    with torch.no_grad():
        a = plain.generate(**ids, max_new_tokens=12, do_sample=False)
        b = adapted.generate(**ids, max_new_tokens=12, do_sample=False)
    assert torch.equal(a, b)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert not torch.equal(base.lm_head.weight, plain.lm_head.weight) or not torch.equal(
        base.model.layers[0].mlp.up_proj.weight, plain.model.layers[0].mlp.up_proj.weight
    )  # adapter was merged
    again = invoke("export", str(out), "--merged", str(merged))
    assert again.exit_code == 2 and "is not empty" in again.output


def test_generate_and_chat_with_tuned_and_base_models(
    tiny_model: Path, support_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    assert run_tiny(tiny_model, support_dir / "tickets.jsonl", out).exit_code == 0
    tuned = invoke("generate", "support", "--run", str(out), "where is my order", "my blender broke")
    assert tuned.exit_code == 0, tuned.output
    assert "> where is my order" in tuned.output and "> my blender broke" in tuned.output
    data = str(support_dir / "tickets.jsonl")
    base = CliRunner().invoke(
        cli, ["generate", "support", "--data", data, "--model", str(tiny_model)], input="refund please\n"
    )
    assert base.exit_code == 0, base.output
    chat = CliRunner().invoke(cli, ["chat", "support", "--run", str(out)], input="where is my order\n\n")
    assert chat.exit_code == 0 and "tuned model of" in chat.output and chat.output.count("ticket> ") == 2
    neither = invoke("generate", "support", "hello")
    assert neither.exit_code == 2 and "pass --run RUN_DIR" in neither.output
    wrong = invoke("generate", "content", "--run", str(out), "a brief")
    assert wrong.exit_code == 2 and "is a 'support' run, not 'content'" in wrong.output
    bad_field = invoke("generate", "support", "--run", str(out), "--field", "oops", "hi")
    assert bad_field.exit_code == 2 and "expected key=value" in bad_field.output


def test_a_flag_of_another_command_names_the_commands_that_take_it(support_dir: Path) -> None:
    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), prog_name="scenario")

    data = str(support_dir / "tickets.jsonl")
    result = invoke("validate", "support", "--data", data, "--epochs", "3")
    assert result.exit_code == 2 and "Did you mean" not in result.output
    assert (
        "No such option: --epochs. It is an option of `scenario run support`, `scenario run-mix`, "
        "`scenario sweep support`, not of `scenario validate support`" in result.output
    )
    result = invoke("validate", "support", "--data", data, "--append")
    assert "--append. It is an option of `scenario prepare support`, not of" in result.output
    result = invoke("eval", str(support_dir), "--lora-r", "4")  # not a scenario command: NAME stands in
    assert (
        "It is an option of `scenario run NAME`, `scenario run-mix`, `scenario sweep NAME`" in result.output
    )
    result = invoke("--max-steps", "2", "list")  # the top level too
    assert result.exit_code == 2 and "`scenario run NAME`" in result.output
    result = invoke("validate", "support", "--data", data, "--no-such-flag")  # nobody takes it
    assert result.exit_code == 2 and "No such option '--no-such-flag'" in result.output
