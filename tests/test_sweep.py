"""`scenario sweep` on the tiny model: trials on the validation split, the choice tested once, reusable."""

import json
from pathlib import Path

import pytest
import yaml

from scenario_pack.core import config as config_mod
from scenario_pack.core.errors import ConfigError
from scenario_pack.core.run_config import RunConfig
from scenario_pack.core.runs.sweep import Param, search_space, trial_settings
from scenario_pack.core.training.trainer import METHOD_LR
from tests.test_cli import QUICK, invoke


def test_param_specs() -> None:
    assert Param.parse("train.lora_alpha=16,32").choices == (16, 32)
    assert Param.parse("train.epochs=1:4") == Param("train.epochs", low=1, high=4)
    assert Param.parse("train.lr=1e-5:1e-3").low == 1e-5
    for bad in ("train.lr", "lr=1,2", "train.lr=0.0:1e-3", "train.epochs=3:1", "train.lr=a:b"):
        with pytest.raises(ConfigError, match="--param"):
            Param.parse(bad)


def test_search_space_checks_keys_and_values_against_the_config() -> None:
    config = RunConfig()
    keys = [p.key for p in search_space(config, ())]
    assert keys == ["train.method", "lr_scale", "train.lora_r", "train.epochs"]
    keys = [p.key for p in search_space(config, ("train.lr=1e-5:1e-3", "train.method=lora"))]
    assert "lr_scale" not in keys and "train.lr" in keys
    with pytest.raises(ConfigError, match="lora_rank"):
        search_space(config, ("train.lora_rank=4,8",))
    with pytest.raises(ConfigError, match="method"):
        search_space(config, ("train.method=lora,qlora",))
    with pytest.raises(ConfigError, match="only settings a trial applies"):
        search_space(config, ("data.test_size=0.1,0.3",))


class FixedTrial:
    """Stands in for an Optuna trial: every suggestion takes the given value (or the choices' first)."""

    def __init__(self, values: dict):
        self.values = values

    def suggest_categorical(self, name: str, choices: list):
        return self.values.get(name, choices[0])

    def suggest_float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return self.values[name]

    def suggest_int(self, name: str, low: int, high: int) -> int:
        return self.values.get(name, low)


def test_learning_rate_scale_follows_the_trial_method() -> None:
    config = RunConfig()
    space = search_space(config, ())
    lora = trial_settings(FixedTrial({"lr_scale": 2.0, "train.method": "lora"}), space, config)
    full = trial_settings(FixedTrial({"lr_scale": 2.0, "train.method": "full"}), space, config)
    assert lora["train.lr"] == 2 * METHOD_LR["lora"] and "train.lora_r" in lora
    assert full["train.lr"] == 2 * METHOD_LR["full"] and "train.lora_r" not in full
    config = config.with_values(
        {"train.lr": METHOD_LR["lora"] / 2}
    )  # a fixed LoRA lr moves to full in proportion
    full = trial_settings(FixedTrial({"lr_scale": 1.0, "train.method": "full"}), space, config)
    assert full["train.lr"] == METHOD_LR["full"] / 2


def test_sweep_chooses_on_validation_and_tests_once(
    tiny_model: Path, support_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", "support", "--data", str(support_dir / "tickets.jsonl"), "--model", str(tiny_model)]
    args += ["--output", str(out), "--limit", "60", "--trials", "3", "--param", "train.method=lora"]
    args += ["--baseline", "none", *[a for a in QUICK if a != "--quiet"]]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    trials = report["details"]["Sweep: trials (chosen on the validation split; test rows unused)"]
    assert len(trials["rows"]) == 3 and trials["columns"][2:5] == ["lora_r", "lr", "method"]
    val_rows, test_rows = report["data"]["rows"]["validation"], report["data"]["rows"]["test"]
    scored = result.output.count(f"on {val_rows} validation rows")  # trials never see test rows
    assert scored >= 1 and scored + result.output.count("-> pruned") == 3
    assert len((out / "predictions.jsonl").read_text().splitlines()) == test_rows
    chosen = yaml.safe_load((out / "best.yaml").read_text())
    assert chosen["train"]["method"] == "lora" and chosen["train"] == {
        k.split(".")[1]: v for k, v in report["sweep"]["chosen"].items()
    }
    assert report["config"]["train"]["lr"] == chosen["train"]["lr"]  # the final run used the choice
    assert "Sweep: chosen configuration" in (out / "report.md").read_text()
    # the chosen settings are a run config `scenario run --config` accepts
    resolved = config_mod.resolve({}, out / "best.yaml", [])
    assert resolved.train.lora_r == chosen["train"]["lora_r"]
    # resuming a finished sweep runs no new trial and reuses the final run's stages
    again = invoke(*args, "--resume")
    assert again.exit_code == 0, again.output
    assert "validation rows" not in again.output
    # re-scoring keeps what the sweep added
    assert invoke("eval", str(out)).exit_code == 0
    rescored = json.loads((out / "report.json").read_text())
    assert (
        rescored["sweep"] == report["sweep"] and list(rescored["details"])[:2] == list(report["details"])[:2]
    )
