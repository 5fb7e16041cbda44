"""`scenario run` under `accelerate launch`: two CPU processes (gloo), data parallel, one report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_two_process_run_shards_rows_and_writes_once(
    tiny_model: Path, support_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    scenario_script = Path(sys.executable).parent / "scenario"
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "--main_process_port", "29517",
        str(scenario_script), "run", "support",
        "--data", str(support_dir / "tickets.jsonl"), "--model", str(tiny_model), "--output", str(out),
        "--max-steps", "3", "--batch-size", "4", "--set", "train.grad_accum=1", "--precision", "fp32",
        "--set", "eval.max_new_tokens=8", "--set", "eval.bootstrap=50", "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-4000:]

    report = json.loads((out / "report.json").read_text())
    assert report["training"]["processes"] == 2 and report["training"]["steps"] == 3
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    assert result.stdout.count("report:") == 1  # one summary, from the main process
    assert not list(tmp_path.glob("**/.adapter.tmp")) and not (out / "checkpoints").exists()
    ranks = [json.loads((out / "stages" / f"adapter_rows_rank{r}.json").read_text()) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 3 * 4  # each process: 3 steps of 4 rows
    assert not set(ranks[0]) & set(ranks[1])  # data parallel: different rows on each process
    predictions = (out / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == report["data"]["rows"]["test"]  # evaluation split, then gathered whole
