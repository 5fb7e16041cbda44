"""Stage estimates: the probe leaves the model as it found it, and each estimate follows its stage's plan."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from scenario_pack.core.evaluation.cost import Shapes
from scenario_pack.core.run_config import RunConfig
from scenario_pack.core.runs import estimates

SHAPES = Shapes(layers=30, hidden=576, kv_dim=192, intermediate=1536, vocab=49152, dtype_bytes=4)
SPEEDS = estimates.Speeds(
    linear_flops_per_s=100e9,
    attention_flops_per_s=40e9,
    step_seconds=0.03,
    row_step_seconds=0.002,
    copy_bytes_per_s=10e9,
    train_token_seconds=0.003,
    backward_ratio=3.0,
    head_seconds=0.001,
    shapes=SHAPES,
    seconds=2.0,
)


def seconds(prompts: list[int], budget: int = 100, size: int = 32) -> float:
    return estimates.generation_seconds(SPEEDS, prompts, [budget] * len(prompts), size, 16384)


def test_generation_estimates_follow_the_batches_generation_makes() -> None:
    base = seconds([300] * 90)
    # 90 rows at 32 per batch are three batches of 100 steps: at least the fixed step cost of 300 steps
    assert base > 300 * SPEEDS.step_seconds
    assert seconds([300] * 180) > 1.8 * base  # twice the rows, about twice the time
    assert seconds([900] * 90) > 2 * base  # three-shot prompts: three times the prefill, a longer cache
    # every batch runs to its budget: 50 fewer steps in each of the three batches
    assert seconds([300] * 90, budget=50) < base - 3 * 50 * SPEEDS.step_seconds
    # one row at a time pays every step's fixed cost once per row
    assert seconds([300] * 90, size=1) > 2.5 * base


def test_prompts_prefilled_alone_cost_their_own_tokens_not_the_padded_width() -> None:
    alone = dataclasses.replace(SPEEDS, prompts_alone=True)
    mixed, budgets = [1000] + [200] * 13, [100] * 14  # one batch, as wide as its longest prompt

    def prefill(speeds: estimates.Speeds, prompts: list[int]) -> float:
        decoding = estimates.generation_seconds(speeds, [1] * len(prompts), budgets, 32, 1 << 20)
        return estimates.generation_seconds(speeds, prompts, budgets, 32, 1 << 20) - decoding

    assert prefill(alone, mixed) < 0.4 * prefill(SPEEDS, mixed)  # 3,600 tokens read, not 14,000
    same = [600] * 14  # no padding: only causal attention's half of the pairs is saved
    assert 0.7 * prefill(SPEEDS, same) < prefill(alone, same) < prefill(SPEEDS, same)


def test_training_estimate_grows_with_epochs_and_shrinks_with_fewer_adapted_layers() -> None:
    config = RunConfig()
    train, val = [(300, 100)] * 300, [(300, 100)] * 30
    one = estimates.training_seconds(SPEEDS, config, train, val, layers=30)
    two = estimates.training_seconds(SPEEDS, config.with_values({"train.epochs": 2}), train, val, 30)
    top = estimates.training_seconds(SPEEDS, config.with_values({"train.lora_layers": 10}), train, val, 30)
    full = estimates.training_seconds(SPEEDS, config.with_values({"train.method": "full"}), train, val, 30)
    assert 1.8 * one < two < 2.2 * one
    assert top < 0.75 * one < one < full
    cut = estimates.training_seconds(SPEEDS, config.with_values({"data.max_length": 200}), train, val, 30)
    assert cut < 0.6 * one  # examples cut at max_length train on fewer tokens
    answers = [(100, 300)] * 300  # as many tokens, most of them answers through the output layer
    assert estimates.training_seconds(SPEEDS, config, answers, val, 30) > one
    slower = dataclasses.replace(SPEEDS, train_token_seconds=2 * SPEEDS.train_token_seconds)
    assert 1.6 * one < estimates.training_seconds(slower, config, train, val, 30) < 2 * one


def test_replayed_frozen_layers_make_later_passes_cheaper_within_the_memory_allowed() -> None:
    """A second epoch of LoRA on the top third skips the frozen two thirds' forward pass, if kept."""
    config = RunConfig().with_values({"train.lora_layers": 10})
    train, val = [(300, 100)] * 300, [(300, 100)] * 30
    per_token = 4 * 576

    def estimate(replay_bytes: int, **values: object) -> float:
        return estimates.training_seconds(SPEEDS, config.with_values(values), train, val, 30, replay_bytes)

    one, two = estimate(per_token), estimate(per_token, **{"train.epochs": 2})
    assert estimate(0) > one  # validation passes after the first skip the frozen layers too
    assert 1.3 * one < two < 1.8 * one < estimate(0, **{"train.epochs": 2})
    # 132k tokens x 2,304 bytes need 0.28 GiB: with less allowed, every pass computes every layer
    assert estimate(per_token, **{"train.epochs": 2, "train.replay_gib": 0.2}) == estimate(
        0, **{"train.epochs": 2}
    )
    assert estimate(per_token, **{"train.lora_layers": None}) == estimate(0, **{"train.lora_layers": None})


def test_a_long_run_says_how_to_shorten_it_and_a_short_one_does_not() -> None:
    long = estimates.StageEstimates(
        {"base_eval": 300.0, "few_shot_eval": 600.0, "train": 700.0}, 3.0, {"--baseline none": 600.0}
    )
    message = long.message()
    assert "few_shot_eval 10 min" in message and "27 min in all" in message
    assert "to shorten it: --baseline none (-10 min)" in message
    short = dataclasses.replace(long, seconds={"base_eval": 30.0, "train": 100.0})
    assert "shorten" not in short.message() and "2 min in all" in short.message()


def test_the_probe_measures_and_leaves_the_model_as_it_was(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model.lm_head.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    model.train()
    ids = tokenizer("where is my order")["input_ids"]
    speeds = estimates.probe(model, tokenizer, "fp32", ids, 32, train_batch=(2, 64))
    assert [p.requires_grad for p in model.parameters()] == flags and model.training
    assert all(p.grad is None for p in model.parameters())
    assert speeds.linear_flops_per_s > 0 and speeds.attention_flops_per_s > 0 and speeds.step_seconds > 0
    assert speeds.train_token_seconds > 0 and speeds.backward_ratio >= 1 and speeds.head_seconds > 0
    assert speeds.shapes.layers == model.config.num_hidden_layers and speeds.shapes.dtype_bytes == 4
