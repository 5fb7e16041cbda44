"""How long each stage of a run should take on this machine, from a probe of a few seconds.

The probe times the run's own model in its own precision: short generations of one row and of a
full batch give the linear layers' speed at reading prompts (the full batch's 512 prompt tokens) and
the cost of a decoding step at both ends (in fp32 a step of 8 rows costs twice one of 1 row, one of
32 only 2.5 times: the full batch is timed rather than extrapolated); one masked attention over a
long context gives attention's speed; a forward and a backward pass over one training batch of the
run's batch size and typical length give what a training token costs (the rate depends on the shape:
bf16 reads 2x320 tokens at half its rate over 8x64 on the Xeon of the README); the output layer and
loss as training runs them give what each trained answer token adds; copying many small blocks gives
the bandwidth the KV cache is read at. Each stage then follows its own plan: the batches
`generation.plan` makes of its prompts, and the padded tokens and validation passes of the fine-tune.
No table of known CPUs is involved: a slower machine probes slower.

Two factors were measured rather than derived (on the samples, see the README): attention reads the
cache at about half the copy bandwidth (CACHE_READS), and a fine-tune runs at about 1 / TRAIN_OVERHEAD
(by precision) of the probe's bare passes over a batch of its shape (the optimizer, the adapters'
own matmuls, the trainer's data handling).
"""

from __future__ import annotations

import contextlib
import math
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..data.validation import Prepared
from ..evaluation import generation
from ..evaluation.answers import answer_budget
from ..evaluation.cost import Shapes, attention_heads
from ..plugins.scenario import Example
from ..training.layer_replay import BYTES_PER_GIB, has_dropout
from ..training.trainer import adapted_layers

if TYPE_CHECKING:
    from ..run_config import RunConfig

PROBE_STEPS = 6  # decoding steps timed per probe generation
PROBE_BATCH = 32  # most rows of the probe's full batch (the eval batch size, if smaller)
PROBE_PROMPT_TOKENS = 512  # prompt tokens the full batch reads (16 per row at 32 rows)
PROBE_TRAIN_TOKENS = 1024  # most tokens of the probe's training batch
LONG_RUN = 15 * 60  # seconds from which a run says how to shorten it
# A fine-tune's steps cost this many times the probe's bare forward and backward passes over a
# batch of the same shape (the optimizer, the adapters' own matmuls, the trainer's data handling and
# checkpoints), keyed by the bytes per value the probe computed in. More in bf16/fp16: the probe
# runs a copy already in that dtype, where training keeps fp32 weights that autocast casts at every
# step. Measured on the samples (README, "Stage estimates"): fp32 support 1.16 (Xeon), 0.85, 0.98,
# 0.78 (AVX2 EPYC), content 1.32, code 1.37 (Xeon), 0.80 (EPYC); bf16 support 1.29, code 1.72. fp32's
# factor is the one that leaves the most room to the 30% bound on both sides of its range; bf16's
# is the geometric mean. Every reading is within 30% of its precision's factor.
TRAIN_OVERHEAD = {4: 1.08, 2: 1.5}
# Each decoding step reads the cache written so far (attention over it) at about half the probe's
# copy bandwidth. Fitted on the support sample's base and few-shot stages as a run generates them
# (Xeon of the README): fp32 1.55 and 2.37, bf16 2.01 and 1.93.
CACHE_READS = 2.0


@dataclass(frozen=True)
class Speeds:
    """What the probe measured: this model, this precision, this machine."""

    linear_flops_per_s: float  # the linear layers' rate while reading a batch of prompts
    attention_flops_per_s: float  # attention's rate over a long masked context
    step_seconds: float  # a decoding step's fixed cost (weights read, per-step overhead)
    row_step_seconds: float  # what each further row adds to a decoding step, up to a full batch
    copy_bytes_per_s: float  # memory copy bandwidth (each decoding step reads the KV cache)
    train_token_seconds: float  # a training batch's forward pass through the layers, per token
    backward_ratio: float  # a forward plus backward pass over a forward pass, same batch
    head_seconds: float  # per trained answer token: output layer and loss, forward and backward
    shapes: Shapes  # the model's sizes, in the dtype it computes in
    seconds: float  # what the probe took
    prompts_alone: bool = False  # generation prefills each prompt on its own (generation.prefills_alone)


@dataclass(frozen=True)
class StageEstimates:
    """Expected seconds per stage, keyed as the run's timings are, and ways to shorten a long run."""

    seconds: dict[str, float]
    probe_seconds: float
    shorter: dict[str, float] = field(default_factory=dict)  # option -> seconds it would save

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def message(self) -> str:
        stages = ", ".join(f"{name} {_duration(s)}" for name, s in self.seconds.items())
        text = (
            f"expected on this machine (probe {self.probe_seconds:.0f} s): {stages}; "
            f"{_duration(self.total)} in all"
        )
        if self.total > LONG_RUN and self.shorter:
            options = ", ".join(f"{option} (-{_duration(s)})" for option, s in self.shorter.items())
            text += f"\nto shorten it: {options}"
        return text


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def expect(
    prepared: Prepared,
    tokenizer: Any,
    model: Any,
    precision: str,
    few_shot: list[Example] | None,
    skip: set[str],
) -> StageEstimates:
    """Probe, then estimate every stage of `scenario run` not in `skip` (done before a --resume),
    and what the options that shorten a run would save."""
    config = prepared.config
    prompt = generation.render_prompts(tokenizer, prepared.examples["test"][:1])[0]
    batch = training_batch(config, prepared.token_counts["train"])
    speeds = probe(model, tokenizer, precision, tokenizer(prompt)["input_ids"], config.eval.batch_size, batch)
    shots = None
    if few_shot:
        rendered = generation.render_prompts(tokenizer, few_shot)
        shots = [len(ids) for ids in tokenizer(rendered, add_special_tokens=False)["input_ids"]]
    layers = model.config.num_hidden_layers
    # layer_replay keeps the residual stream, fp32 under autocast, unless dropout rules it out
    replay = 0 if has_dropout(model.config) else 4 * model.config.hidden_size

    def total(config: RunConfig, share: float = 1.0) -> dict[str, float]:
        found = stage_seconds(speeds, prepared, config, shots, layers, share, replay)
        return {name: s for name, s in found.items() if name not in skip}

    seconds = total(config)
    options = {
        "--baseline none": config.with_values({"eval.baseline": "none"}),
        f"--max-length {config.data.max_length // 2}": config.with_values(
            {"data.max_length": config.data.max_length // 2}
        ),
        f"--set eval.max_new_tokens={config.eval.max_new_tokens // 2}": config.with_values(
            {"eval.max_new_tokens": config.eval.max_new_tokens // 2}
        ),
    }
    whole = sum(seconds.values())
    shorter = {option: whole - sum(total(other).values()) for option, other in options.items()}
    shorter[f"--limit {len(prepared.train_set.rows) // 2}"] = whole - sum(total(config, 0.5).values())
    kept = sorted(((option, s) for option, s in shorter.items() if s >= 60), key=lambda kv: -kv[1])
    return StageEstimates(seconds, speeds.seconds, dict(kept))


def stage_seconds(
    speeds: Speeds,
    prepared: Prepared,
    config: RunConfig,
    few_shot_tokens: list[int] | None,
    layers: int,
    share: float = 1.0,
    replay_bytes_per_token: int = 0,
) -> dict[str, float]:
    """Each stage's seconds under `config`, on `share` of the rows (what --limit would keep);
    `replay_bytes_per_token` as training_seconds takes it."""
    counts = prepared.token_counts
    n = max(1, round(len(counts["test"]) * share))
    budgets = [min(answer_budget(prepared, i), config.eval.max_new_tokens) for i in range(n)]
    prompts = [p for p, _ in counts["test"][:n]]
    evals = config.eval
    cache_tokens = speeds.shapes.cache_tokens(evals.cache_gib)

    def answering(tokens: list[int]) -> float:
        rows = [t for t in tokens for _ in range(1 + evals.samples)]  # sampled answers too, if any
        limits = [b for b in budgets for _ in range(1 + evals.samples)]
        return generation_seconds(speeds, rows, limits, evals.batch_size, cache_tokens)

    found = {"base_eval": answering(prompts)}
    if few_shot_tokens and evals.baseline != "none":
        found["few_shot_eval"] = answering(few_shot_tokens[:n])
    train = counts["train"][: max(1, round(len(counts["train"]) * share))]
    val = counts["val"][: round(len(counts["val"]) * share)]
    found["train"] = training_seconds(speeds, config, train, val, layers, replay_bytes_per_token)
    found["tuned_eval"] = found["base_eval"]
    return found


def generation_seconds(
    speeds: Speeds, prompt_tokens: list[int], budgets: list[int], batch_size: int, batch_tokens: int
) -> float:
    """The batches generation.generate will make of these prompts, each its prefill at the probe's
    reading speed (the padded batch, or each prompt alone where generation prefills them so), then
    its decoding steps at the probe's step cost plus the cache each step reads.

    Every batch is taken to run to its budget: in every run measured, base, few-shot and tuned alike,
    each batch's longest answer ended within 10% of it (one of 32 answers that does not end is enough).
    """
    order = sorted(range(len(prompt_tokens)), key=lambda i: (budgets[i], prompt_tokens[i]), reverse=True)
    total, shapes = 0.0, speeds.shapes
    for batch in generation.plan(order, budgets, prompt_tokens, batch_size, batch_tokens):
        rows, width, steps = len(batch), max(prompt_tokens[i] for i in batch), budgets[batch[0]]
        if speeds.prompts_alone:  # each prompt its own tokens, causal: half the (query, key) pairs
            own = [prompt_tokens[i] for i in batch]
            total += sum(shapes.linear_flops(n) for n in own) / speeds.linear_flops_per_s
            total += sum(shapes.attention_flops(n, n) / 2 for n in own) / speeds.attention_flops_per_s
        else:  # the padded batch, its mask computing every pair
            total += rows * shapes.linear_flops(width) / speeds.linear_flops_per_s
            total += rows * shapes.attention_flops(width, width) / speeds.attention_flops_per_s
        context = steps * width + steps * (steps - 1) / 2  # the cache each step reads grows by a token
        read = rows * shapes.cache_bytes_per_token * context
        total += CACHE_READS * read / speeds.copy_bytes_per_s
        total += steps * (speeds.step_seconds + rows * speeds.row_step_seconds)
    return total


def training_seconds(
    speeds: Speeds,
    config: RunConfig,
    train: list[tuple[int, int]],
    val: list[tuple[int, int]],
    layers: int,
    replay_bytes_per_token: int = 0,
) -> float:
    """The fine-tune's padded tokens through the model and its answer tokens through the output layer
    and loss, forward and backward, then its validation passes; `train` and `val` hold each example's
    (prompt, answer) tokens. `replay_bytes_per_token` is what layer_replay keeps per token (0: the
    model's dropout rules it out): passes after the first then skip the layers below LoRA's."""
    cfg, cut = config.train, config.data.max_length
    lengths = _example_lengths(train, cut)
    answers = sum(min(a + 2, n) for (_, a), n in zip(train, lengths, strict=True))
    per_step = cfg.batch_size * cfg.grad_accum
    steps = cfg.max_steps or max(1, math.ceil(math.ceil(len(lengths) / per_step) * cfg.epochs))
    epochs = steps * per_step / max(1, len(lengths))
    adapted = adapted_layers(config, layers) / layers
    backward = 1 + adapted * (speeds.backward_ratio - 1)
    if cfg.method == "full":  # the weights' gradients too: about the activations' again
        backward += speeds.backward_ratio - 1
    val_lengths = _example_lengths(val, cut)
    kept = (sum(lengths) + sum(val_lengths)) * replay_bytes_per_token
    replayed = adapted < 1 and 0 < kept <= cfg.replay_gib * BYTES_PER_GIB
    skipped = 1 - adapted if replayed else 0.0  # the frozen layers' share of a forward pass
    token = speeds.train_token_seconds
    padded = _padded_tokens(lengths, cfg.batch_size, config.run.seed) * token
    fitting = padded * (epochs * backward - max(0.0, epochs - 1) * skipped)
    fitting += epochs * answers * speeds.head_seconds
    evaluations = math.ceil(steps / (cfg.eval_steps or max(1, math.ceil(steps / 4)))) + 1 if val else 0
    val_tokens = sum(val_lengths) * token
    val_answers = sum(a + 2 for _, a in val)
    checking = evaluations * (val_tokens + val_answers * speeds.head_seconds / 3)
    checking -= max(0, evaluations - 1) * val_tokens * skipped
    return TRAIN_OVERHEAD[4 if speeds.shapes.dtype_bytes == 4 else 2] * (fitting + checking)


def training_batch(config: RunConfig, train: list[tuple[int, int]]) -> tuple[int, int]:
    """Rows and tokens per row of a typical training batch (the mean padded row, at most
    PROBE_TRAIN_TOKENS in all): the shape the probe times a training token at."""
    lengths = _example_lengths(train, config.data.max_length)
    rows = config.train.batch_size
    width = _padded_tokens(lengths, rows, config.run.seed) / max(1, len(lengths))
    return rows, max(16, min(round(width), PROBE_TRAIN_TOKENS // rows))


def _example_lengths(counts: list[tuple[int, int]], max_length: int) -> list[int]:
    """Each example's tokens as the trainer sees them: prompt, answer and the chat template's two
    closing tokens, cut at max_length."""
    return [min(p + a + 2, max_length) for p, a in counts]


def _padded_tokens(lengths: list[int], batch_size: int, seed: int) -> float:
    """Tokens one epoch computes when random batches pad to their longest row."""
    order = list(lengths)
    random.Random(seed).shuffle(order)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return sum(max(batch) * len(batch) for batch in batches)


def probe(
    model: Any,
    tokenizer: Any,
    precision: str,
    sample_ids: list[int],
    batch_size: int,
    train_batch: tuple[int, int],
) -> Speeds:
    """Time the model on this machine in a few seconds; `sample_ids` are a real prompt's tokens,
    `train_batch` the rows and tokens per row of a typical training batch."""

    started = time.perf_counter()
    head = _output_layer_seconds(model, precision)
    model = generation.inference_model(model, precision)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    full = max(2, min(PROBE_BATCH, batch_size))
    short, prompt = _tile(sample_ids, 16), _tile(sample_ids, max(16, PROBE_PROMPT_TOKENS // full))
    _generate(model, precision, short, 1, 2, pad)  # first calls set up kernels: untimed
    _, one_step = _generate(model, precision, short, 1, PROBE_STEPS, pad)
    prefill, full_step = _generate(model, precision, prompt, full, PROBE_STEPS, pad)
    shapes = Shapes.of(model.config, generation.value_bytes(model, precision))
    row_step = max(0.0, (full_step - one_step) / (full - 1))
    attention = _attention_flops_per_s(model.config, next(model.parameters()).dtype)
    batch = [_tile(sample_ids, train_batch[1])] * train_batch[0]
    forward, both = _forward_backward(model, precision, batch, device)
    copy_rate = _copy_bytes_per_s()
    return Speeds(
        linear_flops_per_s=full * shapes.linear_flops(len(prompt)) / prefill,
        attention_flops_per_s=attention,
        step_seconds=max(1e-4, one_step - row_step),
        row_step_seconds=row_step,
        copy_bytes_per_s=copy_rate,
        train_token_seconds=forward / (train_batch[0] * train_batch[1]),
        backward_ratio=max(1.0, both / forward),
        head_seconds=head,
        shapes=shapes,
        seconds=time.perf_counter() - started,
        prompts_alone=generation.prefills_alone(device.type),
    )


def _copy_bytes_per_s() -> float:
    """Bytes read and written per second when copying many blocks of a few hundred KB, the size of
    one layer's keys or values in a batch's cache."""
    import torch

    blocks, times = [torch.ones(256 * 1024, dtype=torch.uint8) for _ in range(256)], []
    for _ in range(3):
        began = time.perf_counter()
        copies = [block.clone() for block in blocks]
        times.append(time.perf_counter() - began)
        del copies
    return 2 * sum(block.numel() for block in blocks) / statistics.median(times)


def _tile(ids: list[int], n: int) -> list[int]:
    return (ids * (n // max(1, len(ids)) + 1))[:n]


def _attention_flops_per_s(config: Any, dtype: Any, queries: int = 1024, keys: int = 1152) -> float:
    """Attention's rate, one layer's heads over a long context with a mask, as a long prompt is read
    into a preallocated cache (measured: a third of the linear layers' rate in bf16, half in fp32)."""
    import torch

    heads, head_dim = attention_heads(config)
    q = torch.randn(1, heads, queries, head_dim, dtype=dtype)
    k, v = (
        torch.randn(1, heads, keys, head_dim, dtype=dtype),
        torch.randn(1, heads, keys, head_dim, dtype=dtype),
    )
    mask = torch.ones(queries, keys, dtype=torch.bool).tril(keys - queries)
    torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # untimed: set-up
    began = time.perf_counter()
    torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return 4 * heads * head_dim * queries * keys / (time.perf_counter() - began)


def _generate(
    model: Any, precision: str, ids: list[int], rows: int, steps: int, pad: int
) -> tuple[float, float]:
    """Seconds of the prefill and the median decoding step of one greedy generation of `rows` rows,
    into the cache evaluation uses."""
    import torch

    from ..evaluation import kv_cache

    stamps: list[float] = []
    hook = model.register_forward_hook(lambda *_: stamps.append(time.perf_counter()))
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids] * rows, device=device)
    try:
        began = time.perf_counter()
        with torch.inference_mode(), generation.compute_context(model, precision, device.type):
            model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                cache=kv_cache.for_batch(model, len(ids) + steps),
                max_new_tokens=steps,
                min_new_tokens=steps,
                do_sample=False,
                pad_token_id=pad,
            )
    finally:
        hook.remove()
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return stamps[0] - began, statistics.median(gaps) if gaps else 0.0


def _forward_backward(model: Any, precision: str, batch: list[list[int]], device: Any) -> tuple[float, float]:
    """Seconds of a forward pass, and of a forward and backward pass, through the layers over one
    batch (the backward to the activations only, as LoRA's goes: the weights are frozen for it)."""
    import torch

    input_ids = torch.tensor(batch, device=device)
    embed = model.get_input_embeddings()

    def forward(ids: Any) -> float:
        began = time.perf_counter()
        with torch.no_grad():
            model(input_ids=ids, logits_to_keep=1)
        return time.perf_counter() - began

    def backward(ids: Any) -> float:
        began = time.perf_counter()
        embeds = embed(ids).detach().requires_grad_(True)
        model(inputs_embeds=embeds, logits_to_keep=1).logits.float().sum().backward()
        return time.perf_counter() - began

    with _frozen(model), generation.compute_context(model, precision, device.type):
        forward(input_ids[:1, :32]), backward(input_ids[:1, :32])  # first calls set up kernels: untimed
        return forward(input_ids), backward(input_ids)


def _output_layer_seconds(model: Any, precision: str, tokens: int = 256) -> float:
    """Seconds per answer token of the output layer and the loss, forward and backward, as training
    runs them: the layer as the model stores it (training keeps it in fp32), under autocast."""
    import torch

    head = model.get_output_embeddings()
    device = head.weight.device
    hidden = torch.randn(tokens, head.in_features, device=device, requires_grad=True)
    labels = torch.randint(0, head.out_features, (tokens,), device=device)

    def step() -> float:
        began = time.perf_counter()
        with generation.autocast(precision, device.type):
            logits = head(hidden)
        torch.nn.functional.cross_entropy(logits.float(), labels).backward()
        return time.perf_counter() - began

    with _frozen(head):
        step()  # untimed: kernel set-up
        return step() / tokens


@contextlib.contextmanager
def _frozen(model: Any) -> Iterator[None]:
    """No weight gradients during the probe; each weight's flag and mode set back afterwards."""
    flags = [p.requires_grad for p in model.parameters()]
    training = model.training
    model.requires_grad_(False).eval()
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        model.train(training)
