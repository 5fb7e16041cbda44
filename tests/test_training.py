"""Training on the tiny model: what is trained, and that the fast loss equals the plain one."""

from pathlib import Path

import pytest
import torch

from scenario_pack.core import config as config_mod
from scenario_pack.core.plugins import registry
from scenario_pack.core.plugins.scenario import Example
from scenario_pack.core.training import completion_loss
from scenario_pack.core.training import trainer as training

EXAMPLES = [
    Example(
        [
            {"role": "system", "content": "answer the customer"},
            {"role": "user", "content": "where is my order"},
        ],
        "Intent: order_status\nReply: it ships in 3-5 business days.",
    ),
    Example(
        [
            {"role": "system", "content": "answer the customer"},
            {"role": "user", "content": "i want to return the kettle i bought last week please"},
        ],
        "Intent: return_request\nReply: returns are free within 30 days.",
    ),
]


def train_tiny(tiny_model: Path, config: dict, out: Path) -> tuple:
    """training.train on the tiny model in fp32, EXAMPLES twice for training, once for validation."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    return training.train(
        model, tokenizer, EXAMPLES * 2, EXAMPLES, config, str(tiny_model), out, "fp32", quiet=True
    )


def make_trainer(tiny_model: Path, tmp_path: Path, method: str = "lora"):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = config_mod.resolve(
        {}, None, [("test", {"train": {"method": method, "max_steps": 1, "batch_size": 2}})]
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    import datasets

    args = training.build_sft_config(config, tmp_path, "fp32", len(EXAMPLES), False, quiet=True)
    return completion_loss.trainer_class()(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(training.to_records(EXAMPLES)),
        processing_class=tokenizer,
        peft_config=training.build_peft_config(config, str(tiny_model)),
    ), tokenizer


def test_only_completion_tokens_are_trained(tiny_model: Path, tmp_path: Path) -> None:
    trainer, tokenizer = make_trainer(tiny_model, tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    for row in range(2):
        labels = batch["labels"][row]
        trained = tokenizer.decode(labels[labels != -100])
        assert trained.startswith("intent : ")  # the completion, lower-cased by the word-level tokenizer
        assert "where is my order" not in trained and "answer the customer" not in trained
        assert trained.endswith("<|im_end|>")  # the model learns to stop
        prompt = tokenizer.decode(batch["input_ids"][row][labels == -100])
        assert "answer the customer" in prompt


def test_fast_loss_equals_plain_loss(tiny_model: Path, tmp_path: Path) -> None:
    trainer, _ = make_trainer(tiny_model, tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    model = trainer.model
    model.eval()
    with torch.no_grad():
        plain = model(**batch).loss
        fast_inputs = completion_loss.left_align(batch)
        labels = fast_inputs.pop("labels")
        fast = completion_loss.tail_loss(model(**fast_inputs), labels)
    assert fast_inputs["logits_to_keep"] < batch["input_ids"].shape[1]  # prompt positions were skipped
    assert fast.item() == pytest.approx(plain.item(), rel=1e-5)


def test_a_padded_batch_learns_what_each_row_alone_would(tiny_model: Path, tmp_path: Path) -> None:
    """Padding (and so length grouping) changes no row's loss: no attention across rows or into padding."""
    trainer, _ = make_trainer(tiny_model, tmp_path)
    rows = [trainer.train_dataset[i] for i in range(2)]
    model = trainer.model
    model.eval()

    def loss_and_tokens(batch):
        inputs = completion_loss.left_align(batch)
        labels = inputs.pop("labels")
        count = (labels[:, 1:] != -100).sum()
        return completion_loss.tail_loss(model(**inputs), labels, count) * count, count

    with torch.no_grad():
        together, total = loss_and_tokens(trainer.data_collator(rows))
        alone = [loss_and_tokens(trainer.data_collator([row])) for row in rows]
    assert together.item() == pytest.approx(sum(loss.item() for loss, _ in alone), rel=1e-5)
    assert total == sum(count for _, count in alone)
    assert len(rows[0]["input_ids"]) != len(rows[1]["input_ids"])  # one row was padded


@pytest.mark.parametrize("method", ["lora", "full", "prompt-tuning"])
def test_each_method_trains_and_lowers_loss(tiny_model: Path, tmp_path: Path, method: str) -> None:
    config = config_mod.resolve(
        {},
        None,
        [
            (
                "test",
                {
                    "train": {
                        "method": method,
                        "max_steps": 6,
                        "batch_size": 2,
                        "lr": {"full": 1e-3}.get(method),
                    }
                },
            )
        ],
    )
    model, result = train_tiny(tiny_model, config, tmp_path / method)
    losses = [e["loss"] for e in result.log_history if "loss" in e]
    assert result.steps == 6 and losses[-1] < losses[0]
    assert any("eval_loss" in e for e in result.log_history)
    assert result.trainable_params < result.total_params or method == "full"


def test_every_scenario_default_builds_trl_and_peft_configs(tmp_path: Path) -> None:
    """An upstream rename of a TRL/PEFT field must fail here, not for a user."""
    for name in registry.names():
        scenario = registry.load(name)
        for method in ("lora", "full", "prompt-tuning"):
            config = config_mod.resolve(scenario.defaults(), None, [("t", {"train": {"method": method}})])
            args = training.build_sft_config(config, tmp_path, "fp32", 100, True)
            assert args.learning_rate == training.learning_rate(config)
            assert not args.gradient_checkpointing and args.max_length == config.data.max_length
            peft_config = training.build_peft_config(config, "unused")
            assert (peft_config is None) == (method == "full")


@pytest.mark.parametrize("method", ["lora", "prompt-tuning", "full"])
def test_bf16_training_keeps_frozen_weights_in_bf16_and_the_result_generates(
    tiny_model: Path, tmp_path: Path, method: str
) -> None:
    """Frozen linear weights are stored in bf16 (autocast would cast them at every forward anyway),
    trained weights stay fp32, and the trained model answers through its bf16 generation copy
    (TRL leaves a forward on the instance that closes over the original model)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from scenario_pack.core.evaluation import generation

    config = config_mod.resolve({}, None, [("test", {"train": {"method": method, "max_steps": 1}})])
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model, _ = training.train(
        AutoModelForCausalLM.from_pretrained(tiny_model),
        tokenizer,
        EXAMPLES * 2,
        [],
        config,
        str(tiny_model),
        tmp_path,
        "bf16",
        quiet=True,
    )
    dtypes = {name: p.dtype for name, p in model.named_parameters()}
    assert all(d == torch.float32 for n, d in dtypes.items() if "lora_" in n or "prompt_encoder" in n)
    frozen = torch.float32 if method == "full" else torch.bfloat16
    assert all(d == frozen for n, d in dtypes.items() if n.endswith("q_proj.weight") and "lora_" not in n)
    assert dtypes[next(n for n in dtypes if "embed_tokens" in n)] == torch.float32
    if method == "lora":
        model = model.merge_and_unload()
    answers = generation.generate(model, tokenizer, [Example(e.prompt, "") for e in EXAMPLES], 4, 2, "bf16")
    assert len(answers) == 2


@pytest.mark.parametrize("top", [1, 0.5])
def test_lora_on_the_top_layers_only_trains_those_and_learns(
    tiny_model: Path, tmp_path: Path, top: float
) -> None:
    """train.lora_layers adapts the top N layers, or that share of them (the backward pass stops below)."""
    config = config_mod.resolve(
        {}, None, [("t", {"train": {"lora_layers": top, "max_steps": 6, "batch_size": 2}})]
    )
    model, result = train_tiny(tiny_model, config, tmp_path / "top")
    adapted = {n.split(".layers.")[1].split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert adapted == {"1"}  # the tiny model's top layer of two, every linear module in it
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {name.split(".lora_")[0].rsplit(".", 1)[-1] for name in trained} >= {"q_proj", "down_proj"}
    losses = [e["loss"] for e in result.log_history if "loss" in e]
    assert losses[-1] < losses[0]


def three_layer_model(tiny_model: Path, **changes) -> object:
    """The tiny model's shape with three layers (seeded: the same weights every call)."""
    from transformers import AutoConfig, LlamaForCausalLM

    config = AutoConfig.from_pretrained(tiny_model, num_hidden_layers=3, **changes)
    torch.manual_seed(0)
    return LlamaForCausalLM(config)


def train_three_layers(tiny_model: Path, out: Path, replay_gib: float, **changes) -> tuple:
    """Two epochs of LoRA on the top layer of three: the bottom two are frozen."""
    from transformers import AutoTokenizer

    train = {"lora_layers": 1, "epochs": 2, "batch_size": 2, "grad_accum": 1, "replay_gib": replay_gib}
    config = config_mod.resolve({}, None, [("t", {"train": train})])
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = three_layer_model(tiny_model, **changes)
    return training.train(
        model, tokenizer, EXAMPLES * 2, EXAMPLES, config, str(tiny_model), out, "fp32", quiet=True
    )


def test_replaying_the_frozen_layers_trains_the_same_adapter(tiny_model: Path, tmp_path: Path) -> None:
    """Later passes skip the layers below LoRA's and put back what they computed: same losses and weights."""
    replayed_model, replayed = train_three_layers(tiny_model, tmp_path / "replayed", replay_gib=1.0)
    computed_model, computed = train_three_layers(tiny_model, tmp_path / "computed", replay_gib=0)
    # 4 rows in batches of 2: the second epoch's 2 batches and every validation pass after the first
    assert replayed.replayed_batches >= 2 + 1
    assert computed.replayed_batches == 0
    assert replayed.steps == computed.steps == 4

    def losses(result) -> list[float]:
        logged = [e for e in result.log_history if {"loss", "eval_loss"} & set(e)]
        return [e.get("loss", e.get("eval_loss")) for e in logged]

    assert losses(replayed) == pytest.approx(losses(computed), rel=1e-5)
    trained = {n: p for n, p in computed_model.named_parameters() if p.requires_grad}
    replayed_weights = {n: p for n, p in replayed_model.named_parameters() if p.requires_grad}
    assert trained.keys() == replayed_weights.keys() and trained
    assert all(torch.allclose(p, trained[n], atol=1e-6) for n, p in replayed_weights.items())
    layers = replayed_model.base_model.model.model.layers  # the frozen layers are back in place
    assert all(type(layer).__name__ == "LlamaDecoderLayer" for layer in layers)


def test_frozen_layers_with_dropout_are_computed_every_pass(tiny_model: Path, tmp_path: Path) -> None:
    """Dropout makes a frozen layer's output differ between passes: nothing is replayed then."""
    _, result = train_three_layers(tiny_model, tmp_path / "dropout", replay_gib=1.0, attention_dropout=0.1)
    assert result.replayed_batches == 0


def test_a_batch_with_an_unseen_row_computes_the_frozen_layers(tiny_model: Path) -> None:
    """Replay only when every row of the batch is kept; the kept states are the frozen layers' output."""
    from scenario_pack.core.training.layer_replay import LayerReplay

    model = three_layer_model(tiny_model)
    model.requires_grad_(False)
    model.model.layers[2].requires_grad_(True)
    replay = LayerReplay.for_model(model, 1.0)
    assert replay is not None and replay.frozen == 2
    rows = torch.tensor([[5, 6, 7, 8], [0, 0, 9, 10]])
    mask = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])

    def logits(ids, attention) -> torch.Tensor:
        inputs = {"input_ids": ids, "attention_mask": attention}
        with torch.no_grad(), replay.around(inputs, completion_loss.row_digests(inputs)):
            return model(**inputs).logits

    first = logits(rows, mask)
    assert (replay.replayed, len(replay.kept)) == (0, 2)
    assert replay.kept[next(iter(replay.kept))].shape == (4, model.config.hidden_size)
    again = logits(rows.flip(0), mask.flip(0))  # same rows, other order
    assert replay.replayed == 1
    assert torch.allclose(again.flip(0)[mask.bool()], first[mask.bool()], atol=1e-5)
    logits(torch.tensor([[5, 6, 7, 8], [11, 12, 13, 14]]), torch.ones(2, 4, dtype=torch.long))
    assert (replay.replayed, len(replay.kept)) == (1, 3)
