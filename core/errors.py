"""One exception family, so the CLI can turn any expected failure into a message and exit code 2."""

from __future__ import annotations

from dataclasses import dataclass


class ScenarioPackError(Exception):
    """An expected failure: the message says what failed, where, and how to fix it."""

    exit_code = 2


class ConfigError(ScenarioPackError):
    """A config file, --set or flag is wrong."""


class ModelError(ScenarioPackError):
    """The base model cannot be found or loaded."""


class RegistryError(ScenarioPackError):
    """A scenario name is unknown or its plugin failed to load."""


class SandboxError(ScenarioPackError):
    """Untrusted code cannot be run safely here (no operating-system boundary)."""


class ScaffoldError(ScenarioPackError):
    """`scenario new` refused: a bad or taken name, or a folder it would overwrite."""


@dataclass(frozen=True)
class DataIssue:
    """One problem in one row of one input file."""

    file: str
    line: int | None
    field: str | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" field '{self.field}'"
        return f"{where}: {self.message}. {self.fix}"


class DataError(ScenarioPackError):
    """Input data failed validation; carries every issue found, showing the first MAX_SHOWN."""

    MAX_SHOWN = 20

    def __init__(self, issues: list[DataIssue]):
        self.total = len(issues)
        self.issues = issues[: self.MAX_SHOWN]
        lines = [str(issue) for issue in self.issues]
        if self.total > len(self.issues):
            lines.append(f"... and {self.total - len(self.issues)} more problems not shown.")
        noun = "problem" if self.total == 1 else "problems"
        super().__init__(f"{self.total} data {noun} found:\n" + "\n".join(f"  - {line}" for line in lines))


def data_error(file: object, line: int | None, field: str | None, message: str, fix: str) -> DataError:
    """A DataError with a single issue: the common case of one file-level problem."""
    return DataError([DataIssue(str(file), line, field, message, fix)])
