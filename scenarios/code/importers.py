"""`scenario prepare code --from repo FOLDER`: a team's own Python/Django repository as code rows.

Every documented public function or method becomes a task: its docstring the description, its def
line(s) the signature, its whole module the reference solution. The repository's tests that name it
are cut down to those tests, pointed at `solution`, and run in the sandbox against that module; only
tests that pass there are kept. A row left without one keeps `runnable: false`: it is scored by
syntax, lint and similarity to the reference, never by pass@1.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenario_pack.core.data import redaction
from scenario_pack.core.data.import_sources import require_dir
from scenario_pack.core.data.importing import Importer, ImportOption, ImportResult, Skip
from scenario_pack.core.errors import data_error
from scenario_pack.core.sandbox.runner import Outcome

from . import harness, repo, repo_tests
from .repo_tests import RepoTest


@dataclass
class Candidate:
    """The tests of one test file that name one task, and those of them that pass on its module."""

    task: repo.Task
    tests: list[RepoTest]
    kind: str
    passing: list[RepoTest] = field(default_factory=list)

    def job(self, tests: list[RepoTest], index: repo.ModuleIndex) -> tuple[str, str, str]:
        text = repo_tests.render(tests, self.task.module, self.kind, index).text
        return self.kind, self.task.module.source, text


def read_repo(source: Path, options: dict[str, Any]) -> ImportResult:
    source = Path(source)
    require_dir(source)
    include_private = bool(options.get("include_private"))
    modules, skipped = repo.read(source)
    if not modules and not skipped:
        raise data_error(source, None, None, "holds no Python files (.py)", "Pass the folder of the code.")
    index = repo.ModuleIndex(modules)
    tasks: list[repo.Task] = []
    for module in modules:
        if module.role != "code":
            skipped.append(Skip(repo.ROLE_REASONS[module.role], module.path))
            continue
        found, skips = repo.find_tasks(module, include_private)
        tasks += found
        skipped += skips
    if not tasks:
        counts = ", ".join(f"{n} {reason}" for reason, n in Counter(s.reason for s in skipped).most_common())
        raise data_error(
            source,
            None,
            None,
            f"no documented public function or method found (skipped: {counts})",
            "Point --from repo at the code's folder, or give the functions to learn from docstrings.",
        )
    tests = [t for m in modules if m.role == "test" for t in repo_tests.find_tests(m, index)]
    candidates = _candidates(tasks, tests, index, skipped)
    start = time.perf_counter()
    runs = _verify(candidates, index, skipped, bool(options.get("allow_unconfined")))
    seconds = time.perf_counter() - start
    chosen = _choose(candidates, skipped)
    rows = []
    for task in tasks:
        row = _row(task, chosen.get(task.id), index)
        found = redaction.find_secrets(row["solution"] + "\n" + row["tests"])
        if found:  # a placeholder would change what the code does: the row is refused, and counted
            skipped.append(Skip("credentials in the code", f"{task.id} ({', '.join(found)})"))
        else:
            rows.append(row)
    if not rows:
        raise data_error(
            source,
            None,
            None,
            f"every task's module or tests hold credentials ({len(tasks)} tasks refused)",
            "Move keys and passwords out of the code (into environment variables or untracked settings).",
        )
    tested = sum(row["runnable"] for row in rows)
    notes = [
        "description: the docstring; signature: the decorators and def line(s), under the class line(s) "
        "for a method",
        "solution: the whole module the function is defined in (the function may rely on anything in it), "
        "so the model learns to write that module from the docstring and signature; rows of one module "
        "share it, and `scenario run` keeps them on one side of the train/test split",
        "kind: django when the module or its tests import Django, else python",
        "tests: the test functions and TestCase methods that name the function (for a method: its class "
        "and its name), from one test file per row, cut down to those tests and importing from solution "
        f"(app.solution for Django); each run in the sandbox against the module ({runs} runs, "
        f"{seconds:.0f} s) and kept only if it passes there",
        f"{tested} of {len(rows)} rows have tests that pass; {len(rows) - tested} have none and are marked "
        "runnable: false (scored by syntax, lint and chrF to the solution, not by pass@1)",
        "not read: hidden folders, __pycache__, node_modules, site-packages and virtual environments, "
        "symlinks out of the repository, files that are not regular or over "
        f"{repo.MAX_FILE_BYTES // 1024} KiB; "
        "rows whose module or tests hold credentials (private or API keys, assigned passwords) are refused",
    ]
    return ImportResult(rows, skipped, notes)


def _candidates(
    tasks: list[repo.Task], tests: list[RepoTest], index: repo.ModuleIndex, skipped: list[Skip]
) -> list[Candidate]:
    """Per task and test file, the tests that name the task; those that need other repository code
    cannot run against one module and are skipped without a run."""
    out = []
    for task in tasks:
        by_file: dict[str, list[RepoTest]] = {}
        for test in tests:
            if test.covers(task):
                by_file.setdefault(test.module.path, []).append(test)
        if not by_file:
            continue
        module_needs = repo_tests.foreign_imports(task.module, index)
        for found in by_file.values():
            kind = "django" if task.module.imports_django or found[0].module.imports_django else "python"
            needs = module_needs or list(repo_tests.render(found, task.module, kind, index).needs)
            if needs:
                skipped += [
                    Skip(
                        "tests need other repository modules",
                        f"{test.name} for {task.id} (needs {', '.join(needs)})",
                    )
                    for test in found
                ]
            else:
                out.append(Candidate(task, found, kind))
    return out


def _verify(candidates: list[Candidate], index: repo.ModuleIndex, skipped: list[Skip], allow: bool) -> int:
    """Run each candidate's tests against its module and keep those that pass: all together first;
    when that fails, one by one, and the survivors together again. Returns the number of runs."""
    split = []
    for candidate, outcome in zip(
        candidates, _run([c.job(c.tests, index) for c in candidates], allow), strict=True
    ):
        if outcome.passed:
            candidate.passing = list(candidate.tests)
        elif len(candidate.tests) == 1:
            skipped.append(_failed(candidate, candidate.tests[0], outcome))
        else:
            split.append(candidate)
    singles = [(c, t) for c in split for t in c.tests]
    for (candidate, test), outcome in zip(
        singles, _run([c.job([t], index) for c, t in singles], allow), strict=True
    ):
        if outcome.passed:
            candidate.passing.append(test)
        else:
            skipped.append(_failed(candidate, test, outcome))
    rejoin = [c for c in split if len(c.passing) > 1]
    for candidate, outcome in zip(
        rejoin, _run([c.job(c.passing, index) for c in rejoin], allow), strict=True
    ):
        if not outcome.passed:
            skipped += [
                Skip("test fails when run with the others", f"{t.name} for {candidate.task.id}")
                for t in candidate.passing[1:]
            ]
            candidate.passing = candidate.passing[:1]
    return len(candidates) + len(singles) + len(rejoin)


def _run(jobs: list[tuple[str, str, str]], allow_unconfined: bool) -> list[Outcome]:
    return harness.run_tests(jobs, allow_unconfined) if jobs else []


def _failed(candidate: Candidate, test: RepoTest, outcome: Outcome) -> Skip:
    lines = [line.strip() for line in outcome.output.splitlines() if line.strip()]
    error = next((line for line in lines if line.startswith("E ")), lines[-1] if lines else outcome.status)
    return Skip("test fails on the reference", f"{test.name} for {candidate.task.id}: {error[:160]}")


def _choose(candidates: list[Candidate], skipped: list[Skip]) -> dict[str, Candidate]:
    """A row holds one test file: the one with the most passing tests for it (the first on a tie)."""
    best: dict[str, Candidate] = {}
    for candidate in candidates:
        current = best.get(candidate.task.id)
        if not candidate.passing:
            continue
        if current is None:
            best[candidate.task.id] = candidate
            continue
        keep, drop = (
            (candidate, current) if len(candidate.passing) > len(current.passing) else (current, candidate)
        )
        best[candidate.task.id] = keep
        skipped += [
            Skip("tests in a second test file (a row holds one)", f"{t.name} for {drop.task.id}")
            for t in drop.passing
        ]
    return best


def _row(task: repo.Task, chosen: Candidate | None, index: repo.ModuleIndex) -> dict[str, Any]:
    kind = chosen.kind if chosen else "django" if task.module.imports_django else "python"
    tests = repo_tests.render(chosen.passing, task.module, kind, index).text if chosen else ""
    return {
        "id": task.id,
        "kind": kind,
        "task": "code",
        "topic": task.module.topic,
        "description": task.description,
        "signature": task.signature,
        "solution": task.module.source,
        "tests": tests,
        "runnable": chosen is not None,
    }


REPO = Importer(
    kind="repo",
    help="a Python/Django repository folder: documented functions and methods become tasks, and the "
    "repository's tests that call them, run in the sandbox, become the rows' tests",
    read=read_repo,
    options=(
        ImportOption(
            "include-private",
            "also turn documented private helpers (names starting with _) into tasks",
            switch=True,
        ),
    ),
)
