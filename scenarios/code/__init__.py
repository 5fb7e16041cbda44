"""Python/Django code generation, scored by running the row's tests in a sandbox, ruff, chrF to the
reference, and, for test-writing rows, whether the model's tests pass on the reference and catch
faulty variants. Rows without tests (`runnable: false`, e.g. imported from a repository) are scored
without running anything."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from pathlib import Path
from typing import Any

from scenario_pack.core.evaluation.metrics import chrf
from scenario_pack.core.plugins.scenario import Field, Metric, Scenario, Scored, mean_of, mean_seconds
from scenario_pack.core.sandbox import runner

from . import extract, harness, importers, standard

KINDS = ("python", "django")
TASKS = ("code", "tests")


@dataclass
class CodeContext:
    standard: Path
    settings: dict[str, Any]


def pass_at_k(n: int, correct: int, k: int) -> float:
    """Unbiased pass@k from n samples of which `correct` pass (Chen et al. 2021, HumanEval)."""
    if n - correct < k:
        return 1.0
    return 1.0 - comb(n - correct, k) / comb(n, k)


def task_of(row: dict[str, Any]) -> str:
    return row.get("task") or "code"


def runnable(row: dict[str, Any]) -> bool:
    """Whether the row's tests are run; only `runnable: false` rows go without (they have none)."""
    return row.get("runnable", True) is not False


class CodeScenario(Scenario):
    def split_key(self, row: dict[str, Any]) -> str | None:
        """Code rows with the same reference (functions of one imported module) share a side of the split."""
        return row["solution"] if task_of(row) == "code" else None

    def check_row(self, row: dict[str, Any]) -> list[tuple[str, str, str]]:
        problems = []
        if row["kind"] not in KINDS:
            problems.append(("kind", f"unknown kind {row['kind']!r}", f"Use one of {', '.join(KINDS)}."))
        if task_of(row) not in TASKS:
            problems.append(("task", f"unknown task {row['task']!r}", f"Use one of {', '.join(TASKS)}."))
        has_tests = bool((row.get("tests") or "").strip())
        if runnable(row) and not has_tests:
            problems.append(
                (
                    "tests",
                    "is missing or empty, and the row is scored by running its tests",
                    'Add pytest tests, or set "runnable": false to score it by syntax, lint and '
                    "similarity to the solution only (not pass@1).",
                )
            )
        elif not runnable(row) and task_of(row) == "tests":
            problems.append(
                (
                    "runnable",
                    "is false on a tests row, which is scored by running tests",
                    "Remove 'runnable'.",
                )
            )
        elif not runnable(row) and has_tests:
            problems.append(
                (
                    "runnable",
                    "is false but the row has tests",
                    "Drop 'runnable' so its tests are run, or empty 'tests'.",
                )
            )
        mutants = row.get("mutants")
        if task_of(row) == "tests" and not mutants:
            problems.append(
                ("mutants", "a tests row needs faulty variants of its solution", "Add 1-3 mutants.")
            )
        if mutants is not None and not all(isinstance(m, str) and m.strip() for m in mutants):
            problems.append(
                ("mutants", "must be a list of code strings", "Give each mutant as a full module.")
            )
        return problems

    def build_context(
        self, train_rows: list[dict[str, Any]], settings: dict[str, Any], data_path: Path
    ) -> Any:
        path = Path(settings["standard"]) if settings.get("standard") else standard.DEFAULT
        if not path.is_file():
            from scenario_pack.core.errors import ConfigError

            raise ConfigError(f"--standard {path}: file not found. Pass a ruff.toml (or pyproject.toml).")
        return CodeContext(path, settings)

    def values(self, row: dict[str, Any], context: CodeContext) -> dict[str, Any]:
        task = task_of(row)
        return {
            "kind": row["kind"],
            "task": task,
            "description": row["description"].strip(),
            "signature": (row.get("signature") or "").strip(),
            "solution": (row.get("solution") or "").strip(),
            "answer": ((row.get("tests") if task == "tests" else row.get("solution")) or "").strip(),
        }

    def parse(self, text: str, context: CodeContext) -> dict[str, Any]:
        code = extract.code_of(text).rstrip() + "\n"  # a file ends with a newline (ruff W292)
        return {"code": code, "syntax_ok": extract.parses(code)}

    def score_batch(
        self,
        parsed: list[dict[str, Any]],
        rows: list[dict[str, Any]],
        context: CodeContext,
        samples: list[list[str] | None] | None = None,
    ) -> list[dict[str, float]]:
        """Run every answer's tests in the sandbox; also records why each greedy answer failed as
        parsed[i]["outcome"]."""
        jobs, owners = [], []  # owners[i]: (row index, what the job measures)
        for i, (item, row) in enumerate(zip(parsed, rows, strict=True)):
            if task_of(row) == "tests":
                jobs.append((row["kind"], row["solution"], item["code"]))
                owners.append((i, "reference"))
                for mutant in row.get("mutants") or []:
                    jobs.append((row["kind"], mutant, item["code"]))
                    owners.append((i, "mutant"))
            elif runnable(row):
                jobs.append((row["kind"], item["code"], row["tests"]))
                owners.append((i, "greedy"))
                for sample in (samples or [None] * len(rows))[i] or []:
                    jobs.append((row["kind"], extract.code_of(sample), row["tests"]))
                    owners.append((i, "sample"))
        outcomes = harness.run_tests(jobs, bool(context.settings.get("allow_unconfined")))
        results: list[dict[str, list[bool]]] = [{} for _ in rows]
        for (i, what), outcome in zip(owners, outcomes, strict=True):
            results[i].setdefault(what, []).append(outcome.passed)
            if what == "greedy":  # kept with the parsed answer for the report's failure table
                cause = harness.failure_cause(outcome) if parsed[i]["syntax_ok"] else "does not parse"
                parsed[i]["outcome"] = cause
        scores = []
        for item, row, result in zip(parsed, rows, results, strict=True):
            found = standard.violations(item["code"], context.standard) if item["syntax_ok"] else ["syntax"]
            score = {
                "syntax_ok": float(item["syntax_ok"]),
                "lint_ok": float(not found),
                "violations": float(len(found)),
            }
            if task_of(row) == "tests":
                valid = all(result["reference"])
                score["tests_valid"] = float(valid)
                score["catches_mutant"] = float(valid and not all(result.get("mutant", [True])))
            else:
                score["chrf"] = chrf(item["code"], row["solution"])
            if "greedy" in result:
                score["passed"] = float(result["greedy"][0])
                if "sample" in result:
                    n, k = len(result["sample"]), context.settings["pass_k"]
                    score["pass_at_k"] = pass_at_k(n, sum(result["sample"]), min(k, n))
            scores.append(score)
        return scores

    def score(self, parsed: dict[str, Any], row: dict[str, Any], context: CodeContext) -> dict[str, float]:
        return self.score_batch([parsed], [row], context)[0]

    def details(
        self, base: Sequence[Scored], tuned: Sequence[Scored], context: CodeContext
    ) -> dict[str, Any]:
        """How many held-out rows each metric averages over: pass@1 counts only rows with tests."""
        rows = [
            [metric.name, sum(key in ex.scores for ex in base), len(base)]
            for metric in self.metrics
            if (key := metric.score_key)
        ]
        columns = ["metric", "rows scored", "held-out rows"]
        causes = {
            name: Counter(ex.parsed.get("outcome") for ex in examples)
            for name, examples in (("base", base), ("tuned", tuned))
        }
        seen = (set(causes["base"]) | set(causes["tuned"])) - {None}
        found = sorted(seen, key=lambda cause: -causes["tuned"][cause])
        return {
            "Rows behind each metric": {"columns": columns, "rows": rows},
            "Why answers passed or failed (rows with tests, greedy answer)": {
                "columns": ["outcome", "base", "tuned"],
                "rows": [[cause, causes["base"][cause], causes["tuned"][cause]] for cause in found],
            },
        }

    def context_summary(self, context: CodeContext) -> dict[str, Any]:
        limits = harness.LIMITS
        return {
            "coding standard": f"ruff, {context.standard}",
            "sandbox boundary": runner.boundary().describe(),
            "sandbox": (
                f"fresh subprocess and temp folder per run, {limits.wall_seconds:.0f} s wall / "
                f"{limits.cpu_seconds} s CPU / {limits.memory_mb} MB; writes outside the folder, network, "
                "new processes and native calls refused"
            ),
        }


scenario = CodeScenario(
    name="code",
    description="Python/Django code and unit tests from descriptions, scored by running tests in a sandbox.",
    version="1.0",
    package_dir=Path(__file__).parent,
    fields=(
        Field("kind", str, "python or django"),
        Field("description", str, "what to write, as a developer would ask for it", free_text=True),
        Field("solution", str, "reference code (for tests rows: the code under test)"),
        Field(
            "tests",
            str,
            "pytest tests (for tests rows: the reference tests); empty only with runnable: false",
            required=False,
        ),
        Field(
            "task",
            str,
            "code (default) or tests: write tests for the given solution",
            required=False,
        ),
        Field("signature", str, "starter code: def/class lines", required=False, nonempty=False),
        Field(
            "mutants",
            list,
            "tests rows: faulty variants of the solution the tests must catch",
            required=False,
        ),
        Field("topic", str, "e.g. strings, dates, models, views", required=False, nonempty=False),
        Field("id", str, "row id", required=False, unique=True),
        Field(
            "runnable",
            bool,
            "false: the row has no tests and is scored without running code (default true)",
            required=False,
        ),
    ),
    input_field="description",
    target_fields=("solution", "tests", "mutants"),
    label_field="kind",
    slice_fields=("kind", "task", "topic"),
    example_score="passed",
    option_help={
        "standard": "ruff config (ruff.toml or pyproject.toml) for the coding-standard metric",
        "pass_k": "k of pass@k (needs --set eval.samples=N with N >= k)",
        "allow_unconfined": "true: run answers even where the OS offers no boundary (Landlock, seccomp)",
    },
    importers=(importers.REPO,),
    metrics=(
        Metric(
            "pass_at_1",
            "higher",
            "code rows with tests: share whose greedy answer passes the row's tests (sandboxed pytest); "
            "runnable: false rows are not counted (see 'rows behind each metric')",
            mean_of("passed"),
            primary=True,
        ),
        Metric(
            "pass_at_k",
            "higher",
            "code rows: unbiased pass@k over eval.samples sampled answers (Chen et al. 2021); "
            "n/a without samples",
            mean_of("pass_at_k"),
        ),
        Metric(
            "chrf",
            "higher",
            "code rows: chrF (character n-grams, sacrebleu) of the answer's code against the reference "
            "solution, with or without tests",
            mean_of("chrf"),
        ),
        Metric(
            "syntax_rate",
            "higher",
            "share of answers whose extracted code parses (ast.parse)",
            mean_of("syntax_ok"),
        ),
        Metric(
            "lint_pass_rate",
            "higher",
            "share of answers with no violation of the coding standard (ruff)",
            mean_of("lint_ok"),
        ),
        Metric(
            "lint_violations",
            "lower",
            "mean number of ruff violations per answer",
            mean_of("violations"),
            range=None,
        ),
        Metric(
            "tests_valid_rate",
            "higher",
            "tests rows: share of generated test files that pass on the reference code",
            mean_of("tests_valid"),
        ),
        Metric(
            "mutant_catch_rate",
            "higher",
            "tests rows: share of generated test files that pass on the reference and fail on at "
            "least one faulty variant",
            mean_of("catches_mutant"),
        ),
        Metric(
            "seconds_per_answer",
            "lower",
            "seconds from its batch's start to the answer's last token (batched, this machine)",
            mean_seconds,
            range=None,
        ),
    ),
)
