"""Fine-tuning with TRL's SFTTrainer and PEFT.

This is the only module that knows TRL and PEFT field names: our config keys are translated here,
so a renamed upstream field breaks one function (and its test), not the user's config files.
Examples are conversational prompt/completion records, so the loss falls on the completion only.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..plugins.scenario import Example
from ..runtime import hardware, interrupt
from .completion_loss import trainer_class

if TYPE_CHECKING:
    from ..run_config import RunConfig

log = logging.getLogger(__name__)

# Measured on the support sample (see the README): what moves the metrics at each method's scale.
METHOD_LR = {"lora": 1e-3, "full": 5e-5, "prompt-tuning": 3e-2}
PROMPT_TUNING_INIT = "Follow the instructions and answer in the required format."


@dataclass
class TrainResult:
    log_history: list[dict[str, Any]]
    seconds: float
    steps: int
    train_tokens: int
    method: str
    trainable_params: int
    total_params: int
    row_digests: list[str]  # one per training example this process computed a loss on
    planned_steps: int
    best_step: int | None  # the restored checkpoint's step (lowest validation loss)
    replayed_batches: int  # batches that skipped the frozen lower layers (layer_replay.py)


def to_records(examples: list[Example]) -> list[dict[str, Any]]:
    """Conversational prompt/completion records: TRL masks the prompt, loss is on the completion."""
    return [
        {"prompt": ex.prompt, "completion": [{"role": "assistant", "content": ex.completion}]}
        for ex in examples
    ]


def learning_rate(config: RunConfig) -> float:
    train = config.train
    return train.lr if train.lr is not None else METHOD_LR[train.method]


def adapted_layers(config: RunConfig, layers: int) -> int:
    """How many of the model's `layers` the fine-tune adapts: all but for LoRA with `train.lora_layers`
    (the top N, or that share of them rounded, at least one)."""
    top = config.train.lora_layers
    if config.train.method != "lora" or not top:
        return layers
    return min(layers, max(1, round(top * layers)) if isinstance(top, float) else top)


def build_peft_config(config: RunConfig, model_source: str, model: Any = None) -> Any:
    """PEFT config for the chosen method (None for full fine-tuning). `train.lora_layers` needs the
    model: PEFT takes layer indices only with module names, so 'all-linear' becomes the names of the
    model's linear layers (its output head aside)."""
    from peft import LoraConfig, PromptTuningConfig, PromptTuningInit, TaskType

    train = config.train
    if train.method == "lora":
        targets, upper = train.lora_targets, None
        layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
        top = adapted_layers(config, layers) if layers else layers
        if top and layers and top < layers:
            upper = list(range(layers - top, layers))
            if targets == "all-linear":
                targets = _linear_names(model)
        return LoraConfig(
            r=train.lora_r,
            lora_alpha=train.lora_alpha,
            lora_dropout=train.lora_dropout,
            target_modules=targets,
            layers_to_transform=upper,
            task_type=TaskType.CAUSAL_LM,
        )
    if train.method == "prompt-tuning":
        return PromptTuningConfig(
            task_type=TaskType.CAUSAL_LM,
            num_virtual_tokens=train.prompt_tokens,
            prompt_tuning_init=PromptTuningInit.TEXT,
            prompt_tuning_init_text=PROMPT_TUNING_INIT,
            tokenizer_name_or_path=model_source,
        )
    return None


def _linear_names(model: Any) -> list[str]:
    import torch

    found = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    return sorted(found - {"lm_head"})


def build_sft_config(
    config: RunConfig,
    output_dir: Path,
    precision: str,
    n_train: int,
    has_eval: bool,
    quiet: bool = False,
    device: str = "cpu",
    tracked: bool = False,
) -> Any:
    """`tracked`: this fine-tune reports to config.train.report_to (TensorBoard through the callback
    `train` adds, so its files land in the run folder rather than in the checkpoints)."""
    from trl import SFTConfig

    train, data = config.train, config.data
    steps_per_epoch = math.ceil(n_train / (train.batch_size * train.grad_accum))
    total_steps = train.max_steps or max(1, math.ceil(steps_per_epoch * train.epochs))
    eval_every = train.eval_steps or max(1, math.ceil(total_steps / 4))
    # transformers 5.2x renamed gradient_checkpointing to activation_checkpointing (old name deprecated)
    fields = SFTConfig.__dataclass_fields__
    checkpointing = (
        "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    )
    return SFTConfig(
        **{checkpointing: train.gradient_checkpointing},
        output_dir=str(output_dir),
        num_train_epochs=float(train.epochs),
        max_steps=train.max_steps or -1,
        learning_rate=learning_rate(config),
        lr_scheduler_type="cosine",
        warmup_steps=train.warmup_ratio,
        weight_decay=train.weight_decay,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.batch_size,
        gradient_accumulation_steps=train.grad_accum,
        # transformers refuses bf16 on CPU unless told the CPU is the device
        use_cpu=device.split(":")[0] == "cpu",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        max_length=data.max_length,
        packing=train.packing,
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
        eval_strategy="steps" if has_eval else "no",
        eval_steps=eval_every,
        logging_steps=1,
        save_strategy="steps",
        save_steps=eval_every,
        save_total_limit=1,  # the best checkpoint is kept as well
        load_best_model_at_end=has_eval,  # restore the lowest validation loss, not the last step
        metric_for_best_model="eval_loss" if has_eval else None,
        greater_is_better=False,
        save_only_model=False,
        seed=config.run.seed,
        data_seed=config.run.seed,
        report_to=train.report_to if tracked and train.report_to != "tensorboard" else "none",
        disable_tqdm=quiet,
        include_num_input_tokens_seen="non_padding",
        prediction_loss_only=True,  # evaluation needs the loss only; keeping eval logits costs GBs
        dataloader_pin_memory=False,
    )


def store_frozen_weights_in_compute_dtype(model: Any, config: RunConfig, precision: str, device: str) -> None:
    """On CPU, keep the linear layers' weights in bf16/fp16 when training leaves them frozen (LoRA,
    prompt tuning).

    Autocast casts every fp32 weight to the compute dtype at every forward and holds the copy for
    the backward pass; a frozen weight stored in that dtype gives the same products with neither the
    cast nor the fp32 original. The output layer stays fp32: it shares its weight with the input
    embeddings, whose output feeds the fp32 residual stream. Adapters are created in fp32 (PEFT).
    Measured on CPU only; GPUs keep fp32 storage (FSDP wants one dtype per parameter group).
    """
    import torch

    dtype = hardware.half_dtype(precision)
    if dtype is None or config.train.method == "full" or device.split(":")[0] != "cpu":
        return
    output = model.get_output_embeddings()
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module is not output:
            module.to(dtype)


def _validation_callbacks(config: RunConfig, has_eval: bool) -> list[Any]:
    """Stop at the next step after a Ctrl-C (see interrupt.py); with validation rows, also evaluate
    and save at the last step (so the final weights compete for 'best') and stop when validation
    loss has not improved for `early_stopping_patience` evaluations."""
    from transformers import EarlyStoppingCallback, TrainerCallback

    class EvaluateLastStep(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if state.global_step >= state.max_steps:
                control.should_evaluate = control.should_save = True
            return control

    class StopOnInterrupt(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            interrupt.check()  # a Ctrl-C swallowed inside a library still stops training here
            return control

    if not has_eval:
        return [StopOnInterrupt()]
    patience = config.train.early_stopping_patience
    return [StopOnInterrupt(), EvaluateLastStep()] + (
        [EarlyStoppingCallback(early_stopping_patience=patience)] if patience else []
    )


def last_complete_checkpoint(folder: Path) -> str | None:
    """Newest checkpoint whose trainer state was written (the Trainer writes it last), or None.

    A run killed while saving leaves a checkpoint folder without it; resuming from that would fail.
    """
    if not folder.exists():
        return None
    done = [
        p
        for p in folder.glob("checkpoint-*")
        if (p / "trainer_state.json").exists() and p.name[11:].isdigit()
    ]
    return str(max(done, key=lambda p: int(p.name[11:]))) if done else None


@contextlib.contextmanager
def _right_padding(tokenizer: Any) -> Iterator[None]:
    """A training batch pads after the answer; the caller gets the tokenizer back as it gave it."""
    side, tokenizer.padding_side = tokenizer.padding_side, "right"
    try:
        yield
    finally:
        tokenizer.padding_side = side


def train(
    model: Any,
    tokenizer: Any,
    train_examples: list[Example],
    val_examples: list[Example],
    config: RunConfig,
    model_source: str,
    output_dir: Path,
    precision: str,
    quiet: bool = False,
    resume: bool = False,
    device: str = "cpu",
    callbacks: list[Any] | None = None,
    tracking_dir: Path | None = None,
) -> tuple[Any, TrainResult]:
    """Fine-tune and return the trained (PEFT-wrapped unless full) model with its training log.

    `callbacks` are extra transformers TrainerCallbacks (e.g. a sweep's pruning); with
    `tracking_dir` the losses go to config.train.report_to (TensorBoard: into that folder)."""
    import datasets

    from .layer_replay import LayerReplay

    tracked = tracking_dir is not None
    args = build_sft_config(
        config, output_dir, precision, len(train_examples), bool(val_examples), quiet, device, tracked
    )
    if tracked and config.train.report_to == "tensorboard":
        callbacks = [*(callbacks or []), _tensorboard(tracking_dir)]
    store_frozen_weights_in_compute_dtype(model, config, precision, device)
    with _right_padding(tokenizer):
        trainer = trainer_class()(
            model=model,
            args=args,
            train_dataset=datasets.Dataset.from_list(to_records(train_examples)),
            eval_dataset=datasets.Dataset.from_list(to_records(val_examples)) if val_examples else None,
            processing_class=tokenizer,
            peft_config=build_peft_config(config, model_source, model),
            callbacks=_validation_callbacks(config, bool(val_examples)) + (callbacks or []),
        )
        # One process only: unverified across processes (a two-process test run aborted once with it on,
        # cause not found), and FSDP/DeepSpeed shard the layers it swaps.
        if trainer.args.world_size == 1:
            trainer.layer_replay = LayerReplay.for_model(trainer.model, config.train.replay_gib)
        checkpoint = last_complete_checkpoint(output_dir) if resume else None
        if checkpoint:
            log.info("resuming training from %s", checkpoint)
        trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in trainer.model.parameters())
        start = time.perf_counter()
        trainer.train(resume_from_checkpoint=checkpoint)
        seconds = time.perf_counter() - start
    state = trainer.state
    result = TrainResult(
        log_history=list(state.log_history),
        seconds=seconds,
        steps=state.global_step,
        train_tokens=int(state.num_input_tokens_seen or 0),
        method=config.train.method,
        trainable_params=trainable,
        total_params=total,
        row_digests=trainer.row_digests,
        planned_steps=state.max_steps,
        best_step=getattr(state, "best_global_step", None),
        replayed_batches=trainer.layer_replay.replayed if trainer.layer_replay else 0,
    )
    return trainer.model, result


def _tensorboard(log_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    return TensorBoardCallback(SummaryWriter(log_dir=str(log_dir)))
