"""Batched generation: batches never mix budgets, and per-example budgets are honoured."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenario_pack.core.evaluation import generation
from scenario_pack.core.plugins.scenario import Example


def test_batches_keep_budgets_apart_and_respect_the_size() -> None:
    budgets = [90, 420, 90, 420, 90, 300]
    order = sorted(range(6), key=lambda i: budgets[i], reverse=True)
    batches = generation.plan(order, budgets, [10] * 6, batch_size=2, batch_tokens=10_000)
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert all(len(b) <= 2 and len({budgets[i] for i in b}) == 1 for b in batches)
    sizes = [len(b) for b in generation.plan(list(range(18)), [420] * 18, [10] * 18, 16, 10_000)]
    assert sizes == [9, 9]  # even chunks, not 16 + 2


def test_long_prompts_get_smaller_batches_within_the_token_budget() -> None:
    lengths = [900] * 6 + [100] * 12  # longest first, as generate orders them
    batches = generation.plan(list(range(18)), [100] * 18, lengths, batch_size=32, batch_tokens=4000)
    assert sorted(i for b in batches for i in b) == list(range(18))
    assert all(len(b) * (lengths[b[0]] + 100) <= 4000 for b in batches)
    assert [len(b) for b in batches] == [4, 4, 10]  # 4 long; 2 long + 2 short at the long width; 10 short


def test_cpu_half_precision_generates_with_a_cast_copy(tiny_model: Path) -> None:
    """Autocast would re-cast every frozen weight at every decoding step; a bf16 copy casts once."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    copy = generation.inference_model(model, "bf16")
    assert all(p.dtype == torch.bfloat16 for p in copy.parameters())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the caller's model is untouched
    assert generation.inference_model(copy, "bf16") is copy
    assert generation.inference_model(model, "fp32") is model


def test_each_example_gets_its_own_token_budget(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    calls: list[tuple[int, int]] = []
    real = model.generate

    def spy(**kwargs):
        calls.append((kwargs["input_ids"].shape[0], kwargs["max_new_tokens"]))
        return real(**kwargs)

    model.generate = spy
    examples = [Example([{"role": "user", "content": f"where is order {i}"}], "") for i in range(3)]
    out = generation.generate(model, tokenizer, examples, [2, 6, 2], batch_size=8)
    assert len(out) == 3 and sorted(calls) == [(1, 6), (2, 2)]


def test_a_batch_cache_is_freed_before_the_next_batch_builds_its_own(tiny_model: Path) -> None:
    """Two caches alive at once doubled the peak (few-shot stage: 4.3 GiB against 2.7)."""
    import gc
    import weakref

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from scenario_pack.core.evaluation import kv_cache

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    built: list[weakref.ref] = []
    alive_at_build: list[int] = []
    real = kv_cache.prefilled

    def tracking(*args):
        gc.collect()
        alive_at_build.append(sum(ref() is not None for ref in built))
        cache = real(*args)
        built.append(weakref.ref(cache))
        return cache

    examples = [Example([{"role": "user", "content": f"where is order {i}"}], "") for i in range(4)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kv_cache, "prefilled", tracking)
        generation.generate(model, tokenizer, examples, 3, batch_size=2)
    assert alive_at_build == [0, 0]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_each_batch_kv_cache_stays_within_cache_gib(tiny_model: Path, precision: str) -> None:
    """The budget is memory, not tokens: a larger model or fp32 values make batches of fewer rows."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from scenario_pack.core.evaluation import kv_cache
    from scenario_pack.core.evaluation.cost import Shapes

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    examples = [Example([{"role": "user", "content": f"where is order {i}"}], "") for i in range(12)]
    prompts = generation.render_prompts(tokenizer, examples)
    width = max(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
    fp32_token = Shapes.of(model.config, 4).cache_bytes_per_token
    budget = 3 * (width + 4) * fp32_token  # three rows' cache in fp32, six in bf16
    held: list[tuple[int, int]] = []  # (rows, bytes) of each batch's cache
    real = kv_cache.prefilled

    def measuring(runner, batch, capacity):
        cache = real(runner, batch, capacity)
        buffers = [t for layer in cache.layers for t in (layer.key_buffer, layer.value_buffer)]
        held.append((len(batch), sum(t.nbytes for t in buffers)))
        return cache

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kv_cache, "prefilled", measuring)
        generation.generate(model, tokenizer, examples, 4, 96, precision, cache_gib=budget / 2**30)
    assert sum(rows for rows, _ in held) == 12 and all(size <= budget for _, size in held)
    assert held[0][0] == (3 if precision == "fp32" else 6)


def test_batched_generation_gives_the_same_tokens_as_one_at_a_time(tiny_model: Path) -> None:
    """Left padding, length sorting and the KV cache must not change a greedy answer (fp32)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    texts = ["where is my order", "i want to return the kettle i bought last week please", "refund", "hi"]
    examples = [Example([{"role": "user", "content": t}], "") for t in texts]
    batched = [text for text, _ in generation.generate(model, tokenizer, examples, 12, batch_size=8)]
    single = [generation.generate(model, tokenizer, [ex], 12, batch_size=1)[0][0] for ex in examples]
    assert batched == single
    assert len({len(ex.prompt[0]["content"]) for ex in examples}) == 4  # the batch really was padded


@pytest.mark.parametrize("capacity", [40, 3])  # the batch's full length; too short, so it must grow
def test_the_preallocated_cache_answers_as_the_default_cache_without_copying(
    tiny_model: Path, capacity: int
) -> None:
    """A speed choice only: the same tokens as transformers' own cache, with attention handed views
    of one buffer per layer rather than a fresh concatenation at every step."""
    import torch
    from transformers import AutoModelForCausalLM

    from scenario_pack.core.evaluation import kv_cache

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    ids = torch.randint(3, model.config.vocab_size, (2, 8))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # a left-padded row
    settings = {"max_new_tokens": 12, "min_new_tokens": 12, "do_sample": False, "pad_token_id": 0}
    cache = kv_cache.for_batch(model, capacity)
    with torch.inference_mode():
        default = model.generate(input_ids=ids, attention_mask=mask, **settings)
        ours = model.generate(input_ids=ids, attention_mask=mask, cache=cache, **settings)
    assert torch.equal(default, ours)
    layer = cache.layers[0]
    assert isinstance(layer, kv_cache.PreallocatedLayer) and layer.get_seq_length() == 8 + 11
    assert layer.keys.data_ptr() == layer.key_buffer.data_ptr()  # a view, not a copy
    assert layer.key_buffer.shape[-2] >= 19


def test_prompts_prefilled_one_at_a_time_answer_as_the_padded_batch(tiny_model: Path) -> None:
    """On CPU each prompt is prefilled alone, unpadded (causal attention, no mask): the batch must still
    get the tokens of transformers' own prefill of the padded batch, a one-token prompt included."""
    import torch
    from transformers import AutoModelForCausalLM

    from scenario_pack.core.evaluation import kv_cache

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    prompts = [torch.randint(3, model.config.vocab_size, (n,)).tolist() for n in (9, 4, 1)]
    ids = torch.zeros((3, 9), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, 9 - len(prompt) :] = torch.tensor(prompt)
        mask[row, 9 - len(prompt) :] = 1
    settings = {"max_new_tokens": 10, "min_new_tokens": 10, "do_sample": False, "pad_token_id": 0}
    with torch.inference_mode():
        cache = kv_cache.prefilled(model, prompts, 9 + 10)
        assert cache.get_seq_length() == 8  # all but the last column, which generate computes
        assert not cache.layers[0].keys[2].any()  # the one-token prompt's row is all padding
        ours = model.generate(input_ids=ids, attention_mask=mask, cache=cache, **settings)
        padded = model.generate(
            input_ids=ids, attention_mask=mask, cache=kv_cache.for_batch(model, 19), **settings
        )
    assert torch.equal(ours, padded)


def test_a_prompt_tuned_model_sees_its_virtual_tokens_once(tiny_model: Path) -> None:
    """Batched answers of a prompt-tuned model equal a plain greedy loop over [virtual tokens, prompt,
    answer so far] with no cache (PEFT alone re-inserts the virtual tokens at every step)."""
    import torch
    from peft import PromptTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    with torch.no_grad():  # larger random weights: answers that depend on the whole context
        for weight in base.parameters():
            weight.mul_(25 if weight.dim() == 2 else 1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = get_peft_model(base, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=5)).eval()
    texts = ["where is my order", "i want to return the kettle i bought last week please"]
    examples = [Example([{"role": "user", "content": t}], "") for t in texts]
    specials = tokenizer.all_special_ids  # a random tiny model would end at once, or write nothing
    words_only = {"suppress_tokens": specials}
    answers = generation.generate(model, tokenizer, examples, 8, batch_size=8, options=words_only)
    batched = [text for text, _ in answers]
    expected = []
    with torch.no_grad():
        for prompt in generation.render_prompts(tokenizer, examples):
            ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            answer: list[int] = []
            for _ in range(8):
                embeds = base.get_input_embeddings()(torch.tensor([ids + answer]))
                embeds = torch.cat((model.get_prompt(batch_size=1), embeds), dim=1)
                logits = base(inputs_embeds=embeds).logits[0, -1]
                logits[specials] = float("-inf")
                answer.append(int(logits.argmax()))
            expected.append(tokenizer.decode(answer, skip_special_tokens=True))
    assert batched == expected


def test_a_row_is_timed_to_its_own_last_token() -> None:
    """Per-answer seconds must differ where rows end at different steps, not share the batch time."""
    import torch

    finished = generation._finish_times(rows=2, eos_id=7)
    assert not finished(torch.tensor([[1, 7], [1, 3]]), None).any()  # stops nothing itself
    first = finished.times[0]
    finished(torch.tensor([[1, 7, 0], [1, 3, 7]]), None)
    assert first is not None and finished.times[0] == first  # row 0 keeps its first end
    assert finished.times[1] is not None and finished.times[1] >= first


def test_the_trace_records_each_batch_as_it_ran(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    examples = [Example([{"role": "user", "content": "hi " * n}], "") for n in (1, 5, 9)]
    trace: list[generation.Batch] = []
    out = generation.generate(model, tokenizer, examples, 4, batch_size=2, trace=trace)
    assert sorted(i for b in trace for i in b.rows) == [0, 1, 2]
    assert all(1 <= b.steps <= 4 and b.seconds > 0 for b in trace)
    assert all(0 < seconds <= max(b.seconds for b in trace) + 1e-4 for _, seconds in out)  # rounded


def test_closed_starts_keep_to_the_prefix_tree_and_note_where_they_steered() -> None:
    import torch

    closed = generation._closed_start([[5, 6], [5, 7]], width=2, rows=2)
    scores = torch.zeros(2, 10)
    scores[0, 5], scores[1, 9] = 3.0, 3.0  # row 0 would choose the start itself, row 1 would not
    out = closed(torch.tensor([[1, 1], [1, 1]]), scores)
    assert out.argmax(dim=1).tolist() == [5, 5] and torch.isinf(out[:, :5]).all()
    assert closed.steered == [False, True]
    scores = torch.zeros(2, 10)
    scores[:, 7] = 1.0
    scores[:, 9] = 2.0
    out = closed(torch.tensor([[1, 1, 5], [1, 1, 5]]), scores)
    assert out.argmax(dim=1).tolist() == [7, 7] and closed.steered == [True, True]
    free = torch.randn(2, 10)
    assert torch.equal(closed(torch.tensor([[1, 1, 5, 7], [1, 1, 5, 6]]), free), free)  # start written


def test_answers_begin_with_one_of_the_closed_starts(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    starts = ["Intent: refund_status\nReply:", "Intent: order_status\nReply:", "Intent: other\nReply:"]
    examples = [Example([{"role": "user", "content": t}], "") for t in ("where is it", "money back", "hi")]
    trace: list[generation.Batch] = []
    out = generation.generate(model, tokenizer, examples, 16, batch_size=2, trace=trace, starts=starts)
    written = [tokenizer.decode(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in starts]
    assert all(any(text.startswith(w) for w in written) for text, _ in out), out  # as the tokens read back
    assert sum(len(b.steered) for b in trace) == 3  # the random model's own choices are noted per row


def test_saved_outputs_of_every_shape_become_records() -> None:
    """Stage files written before answers carried `steered` (2- and 3-tuples) still resume and re-score."""
    from scenario_pack.core.evaluation import scoring

    rows = [{"ticket": "a", "_line": 1}, {"ticket": "b", "_line": 2}]
    outputs = {
        "old": [("x", 1.0), ("y", 2.0)],
        "sampled": [("x", 1.0, ["s1"]), ("y", 2.0, ["s2"])],
        "new": [("x", 1.0, None, True), ("y", 2.0, None, False)],
    }
    records = scoring.prediction_records(rows, ["r1", "r2"], outputs)
    assert records[0]["old"] == {"raw": "x", "seconds": 1.0} and records[1]["sampled"]["samples"] == ["s2"]
    assert [r["new"]["steered"] for r in records] == [True, False] and "samples" not in records[0]["new"]
    assert records[0]["row"] == {"ticket": "a"}
