"""The validation stage: everything that can fail on the user's data, before any model is loaded.

`scenario validate` runs this alone; `scenario run` runs it first and writes nothing until it
passes. Token counts need only the tokenizer, which is cheap to load.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import DataError, DataIssue, data_error
from ..plugins.scenario import Example, Scenario
from . import dataset, quality, redaction, splits
from .similarity import Progress, silent

if TYPE_CHECKING:
    from ..run_config import RunConfig

TOKEN_BATCH = 512  # examples tokenized per call


@dataclass(kw_only=True)
class Prepared:
    """Validated, split rows with their formatted examples: the input of every later stage.

    Built by `prepare` (or re-built from a run folder when re-scoring); later stages add only what
    they measure, through `add_warning` and `add_token_lengths`.
    """

    scenario: Scenario
    config: RunConfig
    train_set: dataset.Dataset
    test_set: dataset.Dataset | None
    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    test: list[dict[str, Any]]
    context: Any
    stratified: bool
    duplicates_dropped: int
    warnings: list[str] = field(default_factory=list)
    redacted: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[Example]] = field(default_factory=dict)
    token_stats: dict[str, Any] = field(default_factory=dict)
    token_counts: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # (prompt, answer) tokens
    findings: list[quality.Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the scenario on its context: printed, not reported

    def add_warning(self, warning: str) -> None:
        """A problem a later stage found (e.g. no few-shot prompt fits): the report lists it."""
        self.warnings.append(warning)

    def add_token_lengths(
        self, token_stats: dict[str, Any], finding: quality.Finding, counts: dict[str, list[tuple[int, int]]]
    ) -> None:
        """What counting tokens found, once the tokenizer is loaded: the report's stats, a finding, and
        each part's (prompt, answer) tokens per example (what the stage estimates plan with)."""
        self.token_stats = token_stats
        self.token_counts = counts
        self.findings.append(finding)


def prepare(
    scenario: Scenario,
    config: RunConfig,
    data_path: dataset.Source,
    test_path: dataset.Source | None,
    progress: Progress = silent,
) -> Prepared:
    """Load, validate, de-duplicate and split; fit the scenario's context on the training rows only.

    `progress` shows the stages that grow with the rows (the near-duplicate search) as bars.
    """
    seed = config.run.seed
    data = config.data
    train_set, test_set = dataset.load_sources(data_path, test_path, scenario, data.limit, data.map)
    warnings: list[str] = []
    redacted: dict[str, int] = {}
    if config.data.redact:
        counts = redaction.redact_rows(train_set.rows, scenario.free_text_fields)
        if test_set:
            counts.update(redaction.redact_rows(test_set.rows, scenario.free_text_fields))
        redacted = dict(sorted(counts.items()))
    rows, dropped = splits.drop_duplicates(train_set.rows, scenario.input_field)
    if dropped:
        warnings.append(
            f"{dropped} rows of {data_path} repeat an earlier row's {scenario.input_field}; "
            "only the first of each was kept."
        )
    label = scenario.label_field
    if label in scenario.target_fields:  # a label that only balances the split may have one value
        labels = {row[label] for row in rows}
        if len(labels) < 2:
            raise data_error(
                data_path,
                None,
                label,
                f"every row has the same {label} {next(iter(labels))!r}",
                "Give rows of at least two labels; one label leaves nothing to learn or measure.",
            )
    stratified = False
    if test_set is None:
        keys = [scenario.split_key(r) for r in rows]
        rows, test, stratified = splits.split(rows, config.data.test_size, seed, label, keys)
    else:
        test = test_set.rows
        leaked = splits.overlap(rows, test, scenario.input_field)
        if leaked and not config.data.allow_leakage:
            issues = [
                DataIssue(
                    str(test_path),
                    row["_line"],
                    scenario.input_field,
                    "also appears in the training data (exact duplicate)",
                    "Remove it from one of the files, so the test measures unseen rows.",
                )
                for row in leaked
            ]
            raise DataError(issues)
    if not test:
        raise data_error(
            data_path,
            None,
            None,
            "no rows left for testing",
            "Give more rows, a larger data.test_size, or a --test file.",
        )
    keys = [scenario.split_key(r) for r in rows]
    train, val, val_stratified = splits.split(rows, config.data.val_size, seed, label, keys)
    unstratified = [
        name
        for name, part, done in (
            ("test", test if test_set is None else [], stratified),
            ("validation", val, val_stratified),
        )
        if part and not done
    ]
    if label and len({row[label] for row in rows}) > 1 and unstratified:
        warnings.append(
            f"the {' and '.join(unstratified)} split{'s are' if len(unstratified) > 1 else ' is'} not "
            f"stratified by {label}: some {label} has fewer than 2 rows, or a side has fewer rows than "
            f"there are {label}s; its mix of {label}s may differ from the training rows'."
        )
    if not train:
        raise data_error(
            data_path,
            None,
            None,
            "no rows left for training",
            "Give more rows or smaller test/validation sizes.",
        )
    findings = quality.inspect(
        scenario, train + val, test, dropped, redacted if config.data.redact else None, progress
    )
    stop = [f for f in findings if f.severity == "error" and not config.data.allow_leakage]
    if stop:
        raise DataError(
            [
                DataIssue(str(test_path or data_path), None, scenario.input_field, f.message, f.fix)
                for f in stop
            ]
        )
    context = scenario.build_context(train, config.scenario, train_set.path)
    issues = scenario.check_rows(train + val, context, str(data_path))
    issues += scenario.check_rows(test, context, str(test_path or data_path))
    if issues:
        raise DataError(issues)
    if len(test) < 20:
        warnings.append(f"only {len(test)} test rows: intervals are wide and verdicts weak; use 20 or more.")
    return Prepared(
        scenario=scenario,
        config=config,
        train_set=train_set,
        test_set=test_set,
        train=train,
        val=val,
        test=test,
        context=context,
        stratified=stratified,
        duplicates_dropped=dropped,
        warnings=warnings,
        redacted=redacted,
        findings=findings,
        notes=scenario.context_notes(context),
        examples={
            name: [scenario.format(row, context) for row in part]
            for name, part in (("train", train), ("val", val), ("test", test))
        },
    )


def measure_tokens(prepared: Prepared, tokenizer: Any, progress: Progress = silent) -> dict[str, Any]:
    """Token lengths of every example; refuse rows whose prompt alone leaves no room for the answer."""
    max_length = prepared.config.data.max_length
    lengths, issues, truncated = [], [], 0
    parts = {"train": prepared.train, "val": prepared.val, "test": prepared.test}
    counts: dict[str, list[tuple[int, int]]] = {part: [] for part in parts}
    with progress("token lengths", sum(len(rows) for rows in parts.values())) as bar, _parallel_tokenizer():
        for part, rows in parts.items():
            for row, n_prompt, n_answer in _token_counts(rows, prepared.examples[part], tokenizer, bar):
                counts[part].append((n_prompt, n_answer))
                n_total = n_prompt + n_answer + 2
                lengths.append(n_total)
                if n_prompt >= max_length and part != "test":
                    issues.append(
                        DataIssue(
                            str(prepared.train_set.path),
                            row.get("_line"),
                            prepared.scenario.input_field,
                            f"prompt alone is {n_prompt} tokens, max_length is {max_length}: "
                            "no answer token would be trained",
                            "Shorten the row or raise --max-length.",
                        )
                    )
                elif n_total > max_length:
                    truncated += 1
    if issues:
        raise DataError(issues)
    if truncated:
        prepared.add_warning(f"{truncated} examples exceed max_length {max_length} and are cut at the end.")
    stats = {
        "min": min(lengths),
        "median": int(statistics.median(lengths)),
        "mean": round(statistics.mean(lengths), 1),
        "p95": sorted(lengths)[int(0.95 * (len(lengths) - 1))],
        "max": max(lengths),
        "total": sum(lengths),
    }
    prepared.add_token_lengths(
        {"token_lengths": stats, "truncated": truncated},
        quality.Finding(
            "warning" if truncated else "info",
            "token lengths",
            f"tokens per example: median {stats['median']}, p95 {stats['p95']}, max {stats['max']}; "
            f"{truncated} of {len(lengths)} exceed max_length {max_length} and are cut at the end",
            "Raise --max-length or shorten those rows." if truncated else "",
        ),
        counts,
    )
    return prepared.token_stats


@contextmanager
def _parallel_tokenizer() -> Iterator[None]:
    """Let the Rust tokenizer use every core while counting (the CLI turns it off, so that later forks
    stay quiet); set back afterwards, and a set variable keeps forks quiet either way."""
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    try:
        yield
    finally:
        os.environ["TOKENIZERS_PARALLELISM"] = before if before is not None else "false"


def _token_counts(
    rows: list[dict[str, Any]], examples: list[Example], tokenizer: Any, bar: Any
) -> Iterator[tuple[dict[str, Any], int, int]]:
    """(row, prompt tokens, completion tokens), tokenized TOKEN_BATCH at a time: one call per text
    costs more in the tokenizer's Python wrapper than in tokenizing."""
    for start in range(0, len(rows), TOKEN_BATCH):
        batch = examples[start : start + TOKEN_BATCH]
        prompts = [
            tokenizer.apply_chat_template(ex.prompt, tokenize=False, add_generation_prompt=True)
            for ex in batch
        ]
        asked = tokenizer(prompts, add_special_tokens=False)["input_ids"]
        answers = tokenizer([ex.completion for ex in batch], add_special_tokens=False)["input_ids"]
        for row, prompt, answer in zip(rows[start : start + TOKEN_BATCH], asked, answers, strict=True):
            yield row, len(prompt), len(answer)
        bar.update(len(batch))
