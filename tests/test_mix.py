"""`scenario run-mix`: one adapter for several scenarios, against single-task adapters and the base model."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from scenario_pack.core.cli import cli
from scenario_pack.core.cli.flags import resolve_config
from scenario_pack.core.data.validation import prepare
from scenario_pack.core.errors import ConfigError
from scenario_pack.core.plugins import registry
from scenario_pack.core.runs.mix import weighted_examples
from scenario_pack.core.runs.mix_plan import plan
from tests.conftest import ROOT, write_jsonl

POSTS = ROOT / "data_templates" / "content" / "posts.jsonl"
QUICK = (
    "--limit 60 --max-steps 1 --batch-size 2 --set train.grad_accum=1 --set eval.max_new_tokens=6 "
    "--set eval.bootstrap=50 --quiet"
).split()
VERDICTS = {"improved", "regressed", "no clear change", "not comparable"}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def no_overrides(scenario):
    return []


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_mix_reports_base_single_and_mix_for_each_scenario(
    tiny_model: Path, support_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "mix"
    tickets = support_dir / "tickets.jsonl"
    args = [f"support={tickets}", f"content={POSTS}", "--weight", "support=2"]
    args += ["--model", str(tiny_model), "--output", str(out), *QUICK]
    result = invoke("run-mix", *args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["kind"] == "mix" and set(report["scenarios"]) == {"content", "support"}
    for name, section in report["scenarios"].items():
        scenario = registry.load(name)
        assert section["primary_metric"] == scenario.primary_metric.name
        assert list(section["metrics"]) == [m.name for m in scenario.metrics]
        for metric in scenario.metrics:
            entry = section["metrics"][metric.name]
            assert entry["direction"] == metric.direction
            assert {"base", "single", "mix", "delta", "ci95"} <= set(entry)
            assert None in (entry["single"], entry["mix"]) or entry["delta"] == pytest.approx(
                entry["mix"] - entry["single"], abs=1e-5
            )
            for key in ("verdict", "single_vs_base", "mix_vs_base"):
                assert entry[key].removesuffix(" (few rows)") in VERDICTS
        assert section["summary"].startswith(f"{name}: ") and section["summary"] in result.output
        # the held-out rows are exactly those `scenario run NAME` would hold out
        data = tickets if name == "support" else POSTS
        alone = prepare(scenario, resolve_config(scenario, {"limit": 60}), data, None)
        assert read_jsonl(out / name / "data" / "test.jsonl") == alone.test
        predictions = read_jsonl(out / name / "predictions.jsonl")
        assert len(predictions) == len(alone.test)
        assert all("scores" in p[model] for p in predictions for model in ("base", "single", "mix"))

    mixing = {name: s["mixing"] for name, s in report["scenarios"].items()}
    assert mixing["support"]["weight"] == 2 and mixing["content"]["weight"] == 1
    assert mixing["support"]["examples"] == 2 * mixing["support"]["rows"]
    assert mixing["content"]["examples"] == mixing["content"]["rows"]
    adapters = report["training"]["adapters"]
    assert adapters["mix"]["examples"] == sum(m["examples"] for m in mixing.values())
    for info in [adapters["mix"], *adapters["single"].values()]:
        assert info["steps"] == 1 and info["train_tokens"] > 0 and info["seconds"] > 0
    for folder in ("adapter", "adapters/support", "adapters/content"):
        assert (out / folder / "adapter_model.safetensors").exists(), folder
    card = (out / "adapter" / "README.md").read_text()  # the mix adapter's model card
    assert "- scenario-pack" in card and "### support" in card and "### content" in card
    assert report["training"]["defaults"].startswith("core defaults")  # support's lora_layers not applied
    assert report["training"]["overrides"]["train.max_steps"] == 1
    assert report["config"]["data"]["max_length"] == 640  # content's, the longer of the two
    assert not (out / "checkpoints").exists()
    markdown = (out / "report.md").read_text()
    assert "## Which won where" in markdown and all(line in markdown for line in report["summary"])
    assert "| mix | " in markdown and "support (single-task)" in markdown

    # resume: finished stages are reused, a missing one is redone
    base_before = (out / "stages" / "support_base_outputs.json").read_text()
    single_adapter = (out / "adapters" / "support" / "adapter_model.safetensors").stat().st_mtime_ns
    for name in ("report.json", "report.md", "stages/content_mix_outputs.json"):
        (out / name).unlink()
    again = invoke("run-mix", *args, "--resume")
    assert again.exit_code == 0, again.output
    assert (out / "stages" / "content_mix_outputs.json").exists() and (out / "report.md").exists()
    assert (out / "stages" / "support_base_outputs.json").read_text() == base_before
    assert (out / "adapters" / "support" / "adapter_model.safetensors").stat().st_mtime_ns == single_adapter

    # run-folder commands: report re-renders, eval and chat say what to do instead of failing
    (out / "report.md").unlink()
    assert invoke("report", str(out)).exit_code == 0 and (out / "report.md").exists()
    rescored = invoke("eval", str(out))
    assert rescored.exit_code == 2 and "is a run-mix folder" in rescored.output
    tried = invoke("generate", "support", "--run", str(out), "where is my order")
    assert tried.exit_code == 2 and "scenario export" in tried.output
    exported = invoke("export", str(out), "--merged", str(tmp_path / "merged"))  # the advice given works
    assert exported.exit_code == 0 and (tmp_path / "merged" / "model.safetensors").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["suport=a.jsonl", "content=b.jsonl"], "unknown scenario 'suport'. Did you mean 'support'?"),
        (
            ["support", "content=b.jsonl"],
            "run-mix argument 'support': expected NAME=FILE, for example support=tickets.jsonl",
        ),
        (["support=", "content=b.jsonl"], "run-mix argument 'support=': expected NAME=FILE"),
        (["support=a.jsonl"], "run-mix needs at least two scenarios, got only 'support': a mix of one"),
        ([], "run-mix needs at least two scenarios, got none"),
        (["support=a.jsonl", "support=b.jsonl"], "scenario 'support' is given twice"),
        (
            ["support=a.jsonl", "content=b.jsonl", "--weight", "support=lots"],
            "--weight support: weight 'lots' is not a positive number",
        ),
        (["support=a.jsonl", "content=b.jsonl", "--weight", "content=0"], "weight '0' is not a positive"),
        (
            ["support=a.jsonl", "content=b.jsonl", "--weight", "support"],
            "--weight 'support': expected NAME=W",
        ),
        (
            ["support=a.jsonl", "content=b.jsonl", "--weight", "code=2"],
            "--weight names 'code', which is not in the mix (content, support)",
        ),
        (
            ["support=a.jsonl", "content=b.jsonl", "--set", "train.lrr=1"],
            "scenario 'content': invalid configuration:",
        ),
    ],
)
def test_bad_requests_are_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "out"
    result = invoke("run-mix", *args, "--output", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_bad_rows_of_one_member_name_its_file_and_line(tmp_path: Path, support_dir: Path) -> None:
    post = {"type": "blog", "brief": "repotting", "text": "Repot in spring."}
    bad = write_jsonl(tmp_path / "posts.jsonl", [post, {"type": "blog", "brief": "repotting"}, post])
    result = invoke("run-mix", f"support={support_dir / 'tickets.jsonl'}", f"content={bad}")
    assert result.exit_code == 2
    assert f"{bad}:2 field 'text': required field is missing" in result.output


def test_mix_file_gives_files_weights_settings_and_shared_sections(tmp_path: Path) -> None:
    mix_file = tmp_path / "mix.yaml"
    mix_file.write_text(
        "scenarios:\n"
        "  support: {data: tickets.jsonl, weight: 3}\n"
        "  content: {data: posts.jsonl, test: held_out.jsonl, settings: {brand: Marrow & Moss}}\n"
        "  code: {data: tasks.jsonl, weight: 0.5}\n"
        "train: {max_steps: 7}\n"
        "eval: {bootstrap: 99}\n"
    )
    request = plan(["support=other.jsonl"], [], ["code=0.25"], mix_file, no_overrides)
    members = {m.name: m for m in request.members}
    assert [m.name for m in request.members] == ["code", "content", "support"]
    assert members["support"].data == Path("other.jsonl") and members["support"].weight == 3
    assert members["code"].weight == 0.25  # the command line wins over the file
    assert members["content"].test == Path("held_out.jsonl")
    assert members["content"].config.scenario["brand"] == "Marrow & Moss"
    assert members["support"].config.eval.max_new_tokens == 112  # each keeps its own eval settings
    assert all(m.config.eval.bootstrap == 99 for m in request.members)
    # one training config: core defaults plus the user's; code's epochs=3 and support's lora_layers
    # are named as not applied
    assert request.training_config.train.max_steps == 7
    assert request.training_config.train.epochs == 1
    assert request.not_applied == {"code": {"train.epochs": 3}, "support": {"train.lora_layers": 0.67}}
    assert request.overrides == {"eval.bootstrap": 99, "train.max_steps": 7}
    assert request.training_config.data.max_length == 1024  # code's


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train: {epochs: 2}\n", "needs a 'scenarios:' mapping"),
        ("scenarios: {support: {data: a.jsonl, wieght: 2}}\n", "scenarios.support.wieght is not a known key"),
        ("scenarios: {support: {data: a.jsonl}, content: {}}\n", "scenarios.content has no data file"),
        (
            "scenarios: {support: {data: 3}, content: {data: b}}\n",
            "scenarios.support.data must be a file path",
        ),
        (
            "scenarios: {support: {data: a}, content: {data: b}}\nscenario: {brand: x}\n",
            "put each scenario's own settings under scenarios.NAME.settings",
        ),
        ("scenarios: {support: {data: a}, content: {data: b}}\ntrain: {epoch: 2}\n", "Did you mean 'epochs'"),
        ("scenarios: [support\n", "not valid YAML"),
    ],
)
def test_bad_mix_files_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    mix_file = tmp_path / "mix.yaml"
    mix_file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        plan([], [], [], mix_file, no_overrides)
    assert str(mix_file) in str(caught.value) and message in str(caught.value)


def test_weights_repeat_or_subsample_with_a_seeded_draw() -> None:
    def request(**weights: float):
        members = [SimpleNamespace(name=n, weight=w) for n, w in weights.items()]
        return SimpleNamespace(members=members)

    prepared = {
        "a": SimpleNamespace(examples={"train": [f"a{i}" for i in range(10)]}),
        "b": SimpleNamespace(examples={"train": [f"b{i}" for i in range(10)]}),
    }
    mixed, counts = weighted_examples(request(a=2.5, b=0.3), prepared, seed=1)
    assert counts == {
        "a": {"rows": 10, "weight": 2.5, "examples": 25},
        "b": {"rows": 10, "weight": 0.3, "examples": 3},
    }
    a_part = [x for x in mixed if x.startswith("a")]
    assert all(a_part.count(f"a{i}") in (2, 3) for i in range(10)) and len(a_part) == 25
    b_part = [x for x in mixed if x.startswith("b")]
    assert len(set(b_part)) == 3  # a subsample draws distinct rows
    assert weighted_examples(request(a=2.5, b=0.3), prepared, seed=1)[0] == mixed
    draws = {tuple(weighted_examples(request(a=1, b=0.3), prepared, seed=s)[0]) for s in range(5)}
    assert len(draws) > 1  # the seed decides which rows are drawn
    with pytest.raises(
        ConfigError, match="leaves none of its 10 training rows; use a weight of at least 0.1"
    ):
        weighted_examples(request(a=1, b=0.01), prepared, seed=1)
