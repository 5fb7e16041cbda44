from pathlib import Path

import pytest

from scenario_pack.core import config
from scenario_pack.core.errors import ConfigError
from scenario_pack.core.run_config import EvalConfig, RunConfig, TrainConfig

SCENARIO_DEFAULTS = {"train": {"epochs": 2, "lr": 5e-4}, "scenario": {"top_k": 1, "docs": None}}


def test_layers_apply_in_order(tmp_path: Path) -> None:
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text("train:\n  lr: 1.0e-4\n  batch_size: 4\nscenario:\n  top_k: 3\n")
    resolved = config.resolve(
        SCENARIO_DEFAULTS,
        run_yaml,
        [
            ("command line", {"train": {"batch_size": 2}}),
            ("--set", config.parse_set(["eval.max_new_tokens=7"])),
        ],
    )
    assert resolved.train.epochs == 2  # scenario default beats core default
    assert resolved.train.lr == 1e-4  # file beats scenario default
    assert resolved.train.batch_size == 2  # command line beats file
    assert resolved.eval.max_new_tokens == 7
    assert resolved.scenario["top_k"] == 3
    assert resolved.train.lora_r == TrainConfig().lora_r


def test_all_errors_reported_together_with_suggestions(tmp_path: Path) -> None:
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text("trian:\n  lr: 1\ntrain:\n  epochz: 3\n  batch_size: many\n")
    with pytest.raises(ConfigError) as info:
        config.resolve(SCENARIO_DEFAULTS, run_yaml)
    message = str(info.value)
    assert "unknown section 'trian'. Did you mean 'train'?" in message
    assert "train.epochz is not a known key. Did you mean 'epochs'?" in message
    assert "train.batch_size: expected int, got 'many'" in message


def test_scenario_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match="scenario.top_kk is not a known key. Did you mean 'top_k'"):
        config.resolve(SCENARIO_DEFAULTS, None, [("--set", config.parse_set(["scenario.top_kk=2"]))])


def test_bad_values_and_combinations() -> None:
    with pytest.raises(ConfigError) as info:
        train = {"method": "qlora", "max_steps": 0, "replay_gib": -1}
        evals = {"cache_gib": 0}
        config.resolve({}, None, [("x", {"train": train, "data": {"test_size": 1.5}, "eval": evals})])
    message = str(info.value)
    assert "'qlora' is not one of lora, full, prompt-tuning" in message
    assert "data.test_size=1.5" in message and "train.max_steps=0" in message
    assert "train.replay_gib=-1.0: use 0 (off)" in message
    assert "eval.cache_gib=0.0: must be positive" in message
    with pytest.raises(ConfigError, match="eval.batch_tokens is not a known key. It is now eval.cache_gib"):
        config.resolve({}, None, [("run.yaml", {"eval": {"batch_tokens": 16384}})])


def test_set_syntax_and_yaml_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected section.key=value"):
        config.parse_set(["lr=3"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml:.*not valid YAML"):
        config.resolve({}, bad)
    with pytest.raises(ConfigError, match="config file not found"):
        config.resolve({}, tmp_path / "missing.yaml")


def test_saved_config_round_trips() -> None:
    import yaml

    resolved = config.resolve(SCENARIO_DEFAULTS)
    assert RunConfig.from_dict(yaml.safe_load(config.save(resolved))) == resolved


def test_config_is_typed_and_frozen() -> None:
    import dataclasses

    resolved = config.resolve(SCENARIO_DEFAULTS, None, [("--set", config.parse_set(["train.lr=3e-4"]))])
    assert resolved.train.lr == 3e-4 and resolved.train.epochs == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolved.train.lr = 1.0  # type: ignore[misc]
    changed = resolved.with_values({"train.lr": 1e-3, "scenario.top_k": 5})
    assert (changed.train.lr, changed.scenario["top_k"]) == (1e-3, 5)
    assert (resolved.train.lr, resolved.scenario["top_k"]) == (3e-4, 1)  # the original is untouched


def test_a_config_saved_before_newer_keys_reads_with_their_defaults() -> None:
    old = {"model": {"name": "m"}, "train": {"method": "full", "retired_key": 1}, "scenario": {"top_k": 2}}
    read = RunConfig.from_dict(old)
    assert (read.model.name, read.model.precision, read.train.method) == ("m", "auto", "full")
    assert read.eval == EvalConfig() and read.scenario == {"top_k": 2}


def test_command_line_numbers_in_exponent_form() -> None:
    assert config.parse_set(["train.lr=5e-4"]) == {"train": {"lr": 5e-4}}
    assert config.scalar("1E-5") == 1e-5 and config.scalar("3") == 3
    assert config.scalar("nan") == "nan" and config.scalar("inf") == "inf"  # words stay words
    with pytest.raises(ConfigError, match="few-shot:K"):
        config.resolve({}, None, [("--set", config.parse_set(["eval.baseline=fewshot"]))])
