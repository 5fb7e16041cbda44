"""The scenario contract: what a scenario declares, so core can own every loop.

A scenario is a vertical slice (schema, template, formatter, parser, metrics, defaults). It never
trains or generates; it only says what a row means and how an answer is scored. Importing a
scenario must stay light: no torch, transformers or trl at module import.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jinja2
import yaml

from ..data.importing import Importer
from ..errors import ConfigError

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class Field:
    """One column of an input row."""

    name: str
    type: type
    description: str
    required: bool = True
    nonempty: bool = True
    unique: bool = False  # e.g. ids: a repeat is an error
    free_text: bool = False  # written by people: private identifiers in it are redacted before training


@dataclass
class Scored:
    """One held-out example after generation: what the model said and what it earned."""

    row: dict[str, Any]
    raw: str
    parsed: dict[str, Any]
    scores: dict[str, float]
    seconds: float


@dataclass(frozen=True)
class Aggregate:
    """A metric's aggregate with what core may use besides its value.

    `resampled(examples, idx)` returns the aggregate on every bootstrap resample at once (idx:
    resamples x rows of drawn indices), so the report's 1,000 resamples per metric and slice need no
    Python loop; tests check both forms agree. `score_key` names the per-example score a mean
    averages, so a scenario can say how many rows stand behind the metric.
    """

    compute: Callable[[Sequence[Scored]], float]
    resampled: Callable[[Sequence[Scored], Any], Any] | None = None
    score_key: str | None = None

    def __call__(self, examples: Sequence[Scored]) -> float:
        return self.compute(examples)


@dataclass(frozen=True)
class Metric:
    """A headline number. Direction is required: the report never assumes 'higher is better'.

    `aggregate` is an Aggregate, or any function of the scored examples (the bootstrap then calls it
    once per resample).
    """

    name: str
    direction: Direction
    description: str
    aggregate: Aggregate | Callable[[Sequence[Scored]], float]
    range: tuple[float, float] | None = (0.0, 1.0)
    primary: bool = False

    @property
    def resampled(self) -> Callable[[Sequence[Scored], Any], Any] | None:
        """The aggregate's vectorised bootstrap form, when it has one."""
        return self.aggregate.resampled if isinstance(self.aggregate, Aggregate) else None

    @property
    def score_key(self) -> str | None:
        """The per-example score the metric averages, when it is a mean of one."""
        return self.aggregate.score_key if isinstance(self.aggregate, Aggregate) else None


def mean_of(score_key: str) -> Aggregate:
    """Aggregate that averages one per-example score (rows without it are skipped)."""

    def compute(examples: Sequence[Scored]) -> float:
        values = [ex.scores[score_key] for ex in examples if score_key in ex.scores]
        return float(sum(values) / len(values)) if values else float("nan")

    def resampled(examples: Sequence[Scored], idx: Any) -> Any:
        import numpy as np

        has = np.array([score_key in ex.scores for ex in examples])
        values = np.array([ex.scores.get(score_key, 0.0) for ex in examples], dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return values[idx].sum(axis=1) / has[idx].sum(axis=1)

    return Aggregate(compute, resampled, score_key)


def mean_seconds(examples: Sequence[Scored]) -> float:
    """Seconds per answer, averaged over the examples: every scenario's speed metric."""
    return sum(ex.seconds for ex in examples) / len(examples) if examples else float("nan")


@dataclass(frozen=True)
class Example:
    """One formatted example: prompt messages and the target completion (training and evaluation alike)."""

    prompt: list[dict[str, str]]
    completion: str


@dataclass
class PromptTemplate:
    """The instruction template, kept as data: Jinja strings for system, user and completion."""

    path: Path
    system: jinja2.Template
    user: jinja2.Template
    completion: jinja2.Template
    sha256: str

    @classmethod
    def load(cls, path: Path) -> PromptTemplate:
        text = path.read_text(encoding="utf-8")
        spec = yaml.safe_load(text)
        missing = {"system", "user", "completion"} - set(spec or {})
        if missing:
            raise ConfigError(f"{path}: template lacks {', '.join(sorted(missing))}; add those keys.")
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
        return cls(
            path=path,
            system=env.from_string(spec["system"]),
            user=env.from_string(spec["user"]),
            completion=env.from_string(spec["completion"]),
            sha256=hashlib.sha256(text.encode()).hexdigest(),
        )

    def render_prompt(self, earlier: Sequence[dict[str, str]] = (), /, **values: Any) -> list[dict[str, str]]:
        """The chat messages alone: what `scenario generate` needs for a row without a target.

        `earlier` are a conversation's earlier turns, placed between the system and the final user message.
        """
        return [
            {"role": "system", "content": self.system.render(**values).strip()},
            *earlier,
            {"role": "user", "content": self.user.render(**values).strip()},
        ]

    def render(self, earlier: Sequence[dict[str, str]] = (), /, **values: Any) -> Example:
        return Example(
            prompt=self.render_prompt(earlier, **values), completion=self.completion.render(**values).strip()
        )


@functools.lru_cache(maxsize=64)
def load_template(path: Path) -> PromptTemplate:
    """Parse a template file once per process (format runs once per row)."""
    return PromptTemplate.load(path)


@dataclass
class Scenario:
    """Base class for scenarios. Subclasses fill in the hooks; core calls them."""

    name: str
    description: str
    version: str
    fields: tuple[Field, ...]
    input_field: str
    package_dir: Path
    target_fields: tuple[str, ...] = ()  # what the model writes; absent when a user tries new inputs
    label_field: str | None = None
    slice_fields: tuple[str, ...] = ()
    example_score: str | None = None  # per-example score that picks the report's best/worst examples
    group_field: str | None = None  # `--per-<field>`: one adapter per value, compared with the single one
    metrics: tuple[Metric, ...] = field(default_factory=tuple)
    option_help: dict[str, str] = field(default_factory=dict)
    importers: tuple[Importer, ...] = ()  # `scenario prepare NAME --from KIND SOURCE`

    # -- declared data -------------------------------------------------------------
    def template_for(self, row: dict[str, Any]) -> PromptTemplate:
        """The template a row is rendered with; override to use one file per kind of row."""
        return load_template(self.package_dir / "template.yaml")

    def templates(self) -> list[PromptTemplate]:
        """Every template this scenario may use (their hashes go into the report)."""
        return [load_template(self.package_dir / "template.yaml")]

    def defaults(self) -> dict[str, Any]:
        path = self.package_dir / "defaults.yaml"
        return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}

    @property
    def free_text_fields(self) -> tuple[str, ...]:
        """The fields people wrote: redacted before anything else sees them."""
        return tuple(f.name for f in self.fields if f.free_text)

    @property
    def primary_metric(self) -> Metric:
        return next(m for m in self.metrics if m.primary)

    # -- hooks ---------------------------------------------------------------------
    def check_row(self, row: dict[str, Any]) -> list[tuple[str, str, str]]:
        """Rules one row must follow beyond field types: (field, problem, fix) for each broken one.

        Core adds the file and line, so scenarios never format locations themselves.
        """
        return []

    def split_key(self, row: dict[str, Any]) -> str | None:
        """Rows with the same key are kept on one side of every split (None: the row stands alone).

        Override when rows share an answer, so a held-out answer is never a training target."""
        return None

    def build_context(
        self, train_rows: list[dict[str, Any]], settings: dict[str, Any], data_path: Path
    ) -> Any:
        """Fit whatever the formatter or metrics learn from the training rows (labels, retrievers)."""
        return None

    def context_notes(self, context: Any) -> list[str]:
        """Sentences validation prints about the fitted context, e.g. a part the run will complete
        from the base model's own answers (see `complete_context`)."""
        return []

    def complete_context(
        self,
        context: Any,
        train_rows: list[dict[str, Any]],
        generate: Callable[[list[dict[str, Any]]], list[str]],
    ) -> None:
        """Fit what needs the base model, once a stage has loaded it: `generate(rows)` gives its greedy
        answers to training rows in the evaluation's prompt format (saved in the run folder, so a resumed
        run reuses them). Run, sweep, run-mix and eval call it before scoring; a context that is complete
        asks for nothing."""

    def check_rows(self, rows: list[dict[str, Any]], context: Any, source: str) -> list[Any]:
        """Checks that need the fitted context (e.g. labels unseen in training); returns DataIssues."""
        return []

    def values(self, row: dict[str, Any], context: Any) -> dict[str, Any]:
        """The template's variables for one row; target fields may be absent (see `prompt`)."""
        raise NotImplementedError

    def earlier_turns(self, row: dict[str, Any], context: Any) -> list[dict[str, str]]:
        """Chat messages of the conversation before the row's own input (e.g. a ticket thread's earlier
        user and assistant turns), so a multi-turn row is trained and evaluated as a conversation."""
        return []

    def format(self, row: dict[str, Any], context: Any) -> Example:
        """Prompt and target completion of a full row: used for training and evaluation alike."""
        return self.template_for(row).render(self.earlier_turns(row, context), **self.values(row, context))

    def prompt(self, row: dict[str, Any], context: Any) -> list[dict[str, str]]:
        """Prompt messages alone, for rows without a target (`scenario generate`, `chat`)."""
        return self.template_for(row).render_prompt(
            self.earlier_turns(row, context), **self.values(row, context)
        )

    def max_new_tokens(self, row: dict[str, Any], context: Any, default: int) -> int:
        """Generation budget for one row (e.g. a tweet needs fewer tokens than a blog post)."""
        return default

    def answer_starts(self, context: Any) -> list[str] | None:
        """The ways an answer may begin, when it must name one of a closed set of labels (None: free).

        Every model compared decodes its first tokens along one of these (e.g. "Intent: refund"
        for each intent the run knows), so a label is chosen from the set, never invented.
        """
        return None

    def parse(self, text: str, context: Any) -> dict[str, Any]:
        """Turn a raw generation into the cleaned fields the metrics read."""
        return {"text": text.strip()}

    def score(self, parsed: dict[str, Any], row: dict[str, Any], context: Any) -> dict[str, float]:
        """Per-example scores (used for bootstrap intervals and best/worst examples)."""
        return {}

    def score_batch(
        self,
        parsed: list[dict[str, Any]],
        rows: list[dict[str, Any]],
        context: Any,
        samples: list[list[str] | None] | None = None,
    ) -> list[dict[str, float]]:
        """Scores of many examples at once; override to score in parallel (e.g. running code).
        `samples` holds extra sampled answers per row when eval.samples > 0."""
        return [self.score(p, r, context) for p, r in zip(parsed, rows, strict=True)]

    def details(self, base: Sequence[Scored], tuned: Sequence[Scored], context: Any) -> dict[str, Any]:
        """Extra tables for the report (e.g. per-label F1). Values must be JSON-serialisable."""
        return {}

    def context_summary(self, context: Any) -> dict[str, Any]:
        """What the report should say about the fitted context (e.g. which docs were indexed)."""
        return {}
