"""Starting a run: validate its rows, load the tokenizer they are measured with, claim its folder.

`scenario run`, `scenario sweep` and `scenario run-mix` start alike. Validation writes nothing, so
rows that are refused leave no folder behind; the folder is claimed only once they pass.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.dataset import Source
from ..data.similarity import Progress, silent
from ..data.validation import Prepared, measure_tokens, prepare
from ..errors import ConfigError
from ..plugins.scenario import Scenario
from ..reporting import tracking
from ..runtime import models
from ..runtime.environment import Timer
from .run_folder import RunFolder, claim, default_run_dir

if TYPE_CHECKING:
    from ..run_config import RunConfig

MIX = "mix"  # a mix's default folder: reports/mix/<run-id>


@dataclass(frozen=True)
class Request:
    """One scenario of a run: its resolved config and its data (files or Hub datasets)."""

    scenario: Scenario
    config: RunConfig
    data: Source
    test: Source | None


@dataclass(frozen=True)
class Started:
    """A run ready for its recipe: each scenario's validated rows (by name), the tokenizer they were
    measured with, the folder it owns, and its timer (validation timed)."""

    prepared: dict[str, Prepared]
    tokenizer: Any
    folder: RunFolder
    timer: Timer
    config: RunConfig  # the run's config with run.output set to its folder


def start_run(
    requests: list[Request],
    config: RunConfig,
    resume: bool,
    overwrite: bool,
    note: Callable[[str], None],
    progress: Progress = silent,
    mix: bool = False,
) -> Started:
    """Validate every request's rows, then claim the folder `config` names in run.output (or a new
    one under reports/), which is written into the returned config (and a single run's request).
    A mix's folder also holds one folder per scenario. `note` receives what the user should know
    while it waits."""
    if resume and not config.run.output:
        raise ConfigError(f"--resume needs --output: the folder of the {MIX if mix else 'run'} to continue.")
    tracking.check_installed(config.train.report_to)
    timer, start = Timer(), time.perf_counter()
    output = config.run.output
    root = Path(output) if output else default_run_dir(MIX if mix else requests[0].scenario.name)
    config = config.with_values({"run.output": str(root)})
    if not mix:
        requests = [dataclasses.replace(request, config=config) for request in requests]
    prepared = {r.scenario.name: prepare(r.scenario, r.config, r.data, r.test, progress) for r in requests}
    tokenizer = load_tokenizer(config, note)
    for part in prepared.values():
        measure_tokens(part, tokenizer, progress)
    timer.stage("validate", start)
    claim(root, resume, overwrite, list(prepared) if mix else [])
    return Started(prepared, tokenizer, RunFolder(root), timer, config)


def load_tokenizer(config: RunConfig, note: Callable[[str], None]) -> Any:
    """The base model's tokenizer, with the --chat-template file's template when one is given (the
    adapter saves it, so chat, generate and export use it too); the default model's one-time
    conversion is announced first."""
    name, template = config.model.name, config.model.chat_template
    if models.needs_conversion(name):
        note("preparing the default model: converting its GGUF file to a local checkpoint (once, ~20 s)")
    return models.load_tokenizer(name, Path(template) if template else None)
