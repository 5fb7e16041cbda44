"""`scenario prepare NAME --from KIND SOURCE --out rows.jsonl|rows.csv`: an export into validated rows.

The scenario's importers do the reading; this writes their rows atomically, says what was skipped
and why, and then validates the file exactly as `scenario validate` does.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import click

from ..data import rows_file
from ..data.importing import Importer, ImportOption, ImportResult
from ..errors import ConfigError, RegistryError, ScenarioPackError, data_error
from ..plugins.scenario import Scenario
from .flags import config_params, resolve_config, scenario_options
from .scenario_commands import validate_and_summarise

EXAMPLES_SHOWN = 3
# the validation flags that mean something here (no --data, --test or --limit)
VALIDATION_FLAGS = {"--model", "--chat-template", "--max-length", "--seed"}


def prepare_for(scenario: Scenario) -> click.Command:
    if not scenario.importers:
        return _without_importers(scenario)
    by_kind = {importer.kind: importer for importer in scenario.importers}
    import_flags = _import_flags(scenario)

    def callback(**kwargs: Any) -> None:
        importer = by_kind[kwargs["from_kind"]]
        options = _options_for(importer, import_flags, kwargs)
        config = resolve_config(scenario, kwargs)
        source, out = kwargs["source"], kwargs["out"]
        rows_file.check_out(
            out, [Path(v) for k, v in kwargs.items() if k != "out" and isinstance(v, str | Path)]
        )
        result = importer.read(source, {**config.scenario, **options})
        _print_import(result, source, importer.kind)
        if not result.rows:
            found = (
                f"all {len(result.skipped)} records were skipped" if result.skipped else "it holds no records"
            )
            raise data_error(
                source,
                None,
                None,
                f"no row could be imported with --from {importer.kind}: {found}",
                f"Nothing was written to {out}. Fix the source or the options and run prepare again.",
            )
        if config.data.redact:
            fields, counts = rows_file.redact(scenario, result.rows)
            found = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "none found"
            click.echo(f"redacted before writing ({', '.join(fields)}): {found}; --no-redact keeps them raw")
        before = rows_file.write(out, scenario, result.rows, kwargs["append"])
        added = f" ({before} already there, {len(result.rows)} imported)" if before else ""
        click.echo(f"wrote {before + len(result.rows)} rows to {out}{added}; validating them:")
        try:
            # the rows were redacted just above: a second pass would find nothing and cost as much
            checked = config.with_values({"data.redact": False})
            validate_and_summarise(scenario, checked, out, None, kwargs["quiet"])
        except ScenarioPackError:
            click.echo(
                f"{out} is kept so you can look at it; fix the source or the rows, then validate again."
            )
            raise

    params: list[click.Parameter] = [
        click.Option(
            ["--from", "from_kind"],
            type=click.Choice(sorted(by_kind)),
            required=True,
            help="what SOURCE is: " + "; ".join(f"{i.kind}: {i.help}" for i in scenario.importers),
        ),
        click.Argument(["source"], type=click.Path(path_type=Path)),
        click.Option(
            ["--out"],
            type=click.Path(path_type=Path),
            required=True,
            help="rows file to write: .jsonl (JSON Lines) or .csv (UTF-8, lists as JSON in their cells)",
        ),
        click.Option(
            ["--append"],
            is_flag=True,
            help="add to the rows already in --out (e.g. posts from a folder, then a social export)",
        ),
        *[flag for flag, _ in import_flags.values()],
        *config_params(lambda flag: flag in VALIDATION_FLAGS),
        *scenario_options(scenario),
    ]
    _refuse_clashes(scenario, params)
    return click.Command(
        scenario.name,
        callback=callback,
        params=params,
        help=f"Import SOURCE into {scenario.name} rows, write them to --out and validate them.",
    )


def _import_flags(scenario: Scenario) -> dict[str, tuple[click.Option, dict[str, ImportOption]]]:
    """One flag per option name across the scenario's importers, its help prefixed by the kinds using it."""
    declared: dict[str, dict[str, ImportOption]] = defaultdict(dict)
    for importer in scenario.importers:
        for option in importer.options:
            declared[option.name][importer.kind] = option
    flags = {}
    for name, by_kind in declared.items():
        if len({(option.multiple, option.switch) for option in by_kind.values()}) > 1:
            raise RegistryError(
                f"scenario '{scenario.name}': importers {', '.join(by_kind)} declare --{name} in different "
                "ways (repeatable, single, or a switch); make them agree."
            )
        text = "; ".join(
            f"{kind}: {o.help}" + (f" (default: {o.default})" if o.default is not None else "")
            for kind, o in by_kind.items()
        )
        first = next(iter(by_kind.values()))
        if first.switch:
            flag = click.Option([f"--{name}", _dest(name)], is_flag=True, default=None, help=text)
        else:
            flag = click.Option([f"--{name}", _dest(name)], multiple=first.multiple, default=None, help=text)
        flags[name] = (flag, by_kind)
    return flags


def _options_for(
    importer: Importer, flags: dict[str, tuple[click.Option, dict[str, ImportOption]]], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The chosen importer's options (its defaults where not given); a flag of another kind is an error."""
    options = {}
    for name, (_, by_kind) in flags.items():
        value = kwargs[_dest(name)]
        given = value not in (None, (), False)
        if importer.kind in by_kind:
            options[name.replace("-", "_")] = value if given else by_kind[importer.kind].default
        elif given:
            raise ConfigError(
                f"--{name} is an option of --from {' / '.join(by_kind)}, not of --from {importer.kind}. "
                "Drop it, or choose the kind it belongs to."
            )
    return options


def _dest(name: str) -> str:
    return "import_" + name.replace("-", "_")


def _refuse_clashes(scenario: Scenario, params: list[click.Parameter]) -> None:
    seen: dict[str, int] = {}
    for param in params:
        for opt in param.opts:
            seen[opt] = seen.get(opt, 0) + 1
    clashes = sorted(opt for opt, n in seen.items() if n > 1)
    if clashes:
        raise RegistryError(
            f"scenario '{scenario.name}': importer option(s) {', '.join(clashes)} clash with flags that "
            "`prepare` already has (settings or validation flags); rename them in its importers."
        )


def _print_import(result: ImportResult, source: Path, kind: str) -> None:
    click.echo(
        f"{source} (--from {kind}): {len(result.rows)} rows imported, {len(result.skipped)} items skipped"
    )
    if result.skipped:
        click.echo(f"skipped {len(result.skipped)}, by reason:")
        for reason, count in result.skip_counts().most_common():
            click.echo(f"  {count:>4}  {reason}")
            wheres = [s.where for s in result.skipped if s.reason == reason]
            for where in wheres[:EXAMPLES_SHOWN]:
                click.echo(f"          {where}")
            if len(wheres) > EXAMPLES_SHOWN:
                click.echo(f"          ... and {len(wheres) - EXAMPLES_SHOWN} more")
    for note in result.notes:
        click.echo(f"note: {note}")


def _without_importers(scenario: Scenario) -> click.Command:
    def callback() -> None:
        raise ConfigError(
            f"scenario '{scenario.name}' has no importers, so `scenario prepare {scenario.name}` cannot read "
            f"exports for it. Write rows in its schema (see its README) and check them with "
            f"`scenario validate {scenario.name} --data FILE`."
        )

    return click.Command(
        scenario.name,
        callback=callback,
        help=f"{scenario.name} has no importers: write rows in its schema and use `scenario validate`.",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
