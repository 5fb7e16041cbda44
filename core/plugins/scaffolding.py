"""`scenario new`: write a separate, installable scenario package from the skeleton in scaffold/.

The skeleton is a working scenario (a real task, sample data, tests), so a user starts from
something that runs and changes it, rather than from blanks to fill. Files ending in `.jinja` are
rendered with the new name; the rest (the scenario's own Jinja template among them) are copied
as they are. The package is written to a hidden folder and moved into place whole
(atomic.replace_dir), so a failure never leaves half a skeleton.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2

from .. import atomic
from ..errors import ScaffoldError
from . import registry

SKELETON = Path(__file__).parent / "scaffold"
PACKAGE_DIR = "__package__"  # the skeleton folder renamed to the new import package
SNAKE_CASE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Names:
    """Every spelling of a new scenario's name that its files need."""

    scenario: str  # entry-point name and scenario id, e.g. note_digest
    package: str  # import package, prefixed so it cannot shadow another top-level module
    distribution: str  # pip name, prefixed so `pip install -e` cannot replace another project
    class_name: str

    @classmethod
    def of(cls, name: str) -> Names:
        return cls(
            scenario=name,
            package=f"scenario_pack_{name}",
            distribution=f"scenario-pack-{name.replace('_', '-')}",
            class_name="".join(part.capitalize() for part in name.split("_")) + "Scenario",
        )


def check_name(name: str) -> None:
    """Refuse names that would not import, or that `scenario list` already shows."""
    if keyword.iskeyword(name):
        raise ScaffoldError(
            f"scenario name {name!r} is a Python keyword, so it cannot be imported. Pick another."
        )
    if not SNAKE_CASE.fullmatch(name):
        raise ScaffoldError(
            f"scenario name {name!r} is not a lowercase Python identifier: it becomes the package "
            "scenario_pack_<name> and the CLI's scenario id. Use lowercase letters, digits and "
            "underscores, starting with a letter (e.g. note_digest)."
        )
    if name in registry.names():
        raise ScaffoldError(
            f"scenario name {name!r} is already taken by an installed scenario (see 'scenario list'). "
            "Pick another name, or uninstall the package that registers it first."
        )


def check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ScaffoldError(f"{target} is a file, not a folder. Pass --dir a new or empty folder.")
    if target.is_dir() and any(target.iterdir()):
        raise ScaffoldError(
            f"{target} already exists and is not empty; refusing to overwrite it. "
            "Pass --dir a new or empty folder."
        )


def write_skeleton(name: str, target: Path) -> list[Path]:
    """Write the scenario package for `name` into `target`; return the files written (relative)."""
    check_name(name)
    check_target(target)
    names = Names.of(name)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(SKELETON),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    target = Path(os.path.abspath(target))  # so `--dir .` has a name and a parent
    keep = target.is_dir()  # an empty folder the user made, perhaps their working directory
    base = target if keep else target.parent
    base.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(dir=base, prefix=".scenario-new.", suffix=".tmp"))
    staging = holder / target.name  # made with mkdir, so it gets the user's usual permissions
    written = []
    try:
        for source in sorted(p for p in SKELETON.rglob("*") if p.is_file()):
            relative = source.relative_to(SKELETON)
            out = Path(*(names.package if part == PACKAGE_DIR else part for part in relative.parts))
            (staging / out).parent.mkdir(parents=True, exist_ok=True)
            if out.suffix == ".jinja":
                out = out.with_suffix("")
                text = env.get_template(relative.as_posix()).render(names=names)
                (staging / out).write_text(text, encoding="utf-8")
            else:
                shutil.copyfile(source, staging / out)
            written.append(out)
        if keep:
            for entry in staging.iterdir():
                os.replace(entry, target / entry.name)
        else:
            atomic.replace_dir(staging, target)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
    return written
