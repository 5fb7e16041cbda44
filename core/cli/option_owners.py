"""A flag given to the wrong command: name the commands that take it, not click's nearest spelling.

`scenario validate support --epochs 3` used to get "Did you mean '--docs'?"; the user meant a
flag of `run`. Every command is looked up, so this holds for flags added later too.
"""

from __future__ import annotations

import click

from ..errors import ScenarioPackError


def redirect(root_ctx: click.Context, error: click.NoSuchOption) -> click.NoSuchOption:
    """The same error, saying which commands take the option; unchanged when none does (a typo)."""
    failed = error.ctx
    where = failed.command_path if failed else root_ctx.command_path
    owners = _owners(root_ctx, error.option_name, failed.info_name if failed else None, where)
    if not owners:
        return error
    message = (
        f"No such option: {error.option_name}. It is an option of {', '.join(owners)}, not of `{where}` "
        f"(`{where} --help` lists its options)."
    )
    return click.NoSuchOption(error.option_name, message=message, ctx=failed)


def _owners(root_ctx: click.Context, option: str, name_hint: str | None, where: str) -> list[str]:
    """Commands taking `option`; in a scenario group, the failed command's own scenario comes first,
    and a flag that every scenario takes is shown once with NAME."""
    root = root_ctx.command
    assert isinstance(root, click.Group)
    found = []
    for name in root.list_commands(root_ctx):
        command = _command(root, root_ctx, name)
        path = f"{root_ctx.command_path} {name}"
        if isinstance(command, click.Group):
            group_ctx = click.Context(command, info_name=name, parent=root_ctx, resilient_parsing=True)
            subs = command.list_commands(group_ctx)
            takes = [sub for sub in subs if _takes(_command(command, group_ctx, sub), option)]
            if name_hint in takes:
                takes = [name_hint]
            elif takes and len(takes) == len(subs):
                takes = ["NAME"]
            found += [f"`{path} {sub}`" for sub in takes if f"{path} {sub}" != where]
        elif _takes(command, option) and path != where:
            found.append(f"`{path}`")
    return found


def _command(group: click.Group, ctx: click.Context, name: str) -> click.Command | None:
    try:
        return group.get_command(ctx, name)
    except (click.ClickException, ScenarioPackError):  # a scenario that fails to load takes no flags
        return None


def _takes(command: click.Command | None, option: str) -> bool:
    if command is None:
        return False
    return any(option in param.opts or option in param.secondary_opts for param in command.params)
