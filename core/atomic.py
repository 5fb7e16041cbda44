"""Atomic writes: a killed run never leaves a half-written file that looks complete; a full disk
leaves no file at all and one clear error."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import ScenarioPackError


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


class DiskFullError(ScenarioPackError):
    """No space (or quota) left for an output file."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        _raise_if_full(exc, path)
        raise
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        move_into_place(Path(tmp), path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            _raise_if_full(exc, path)
        raise


def move_into_place(tmp: Path, path: Path) -> None:
    """Rename a fully written temporary file to `path`, with the permissions the umask gives (mkstemp
    makes 0600 files: teammates could not read a report)."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def _raise_if_full(exc: OSError, path: Path) -> None:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise DiskFullError(
            f"no space left on the disk (or quota) while writing {path}; nothing was written there. "
            "Free some space, or choose an output on another disk, and run the command again."
        ) from None


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    write_text(path, "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows))


def replace_dir(tmp_dir: Path, final_dir: Path) -> None:
    """Move a fully written folder into place, replacing any older one."""
    if final_dir.exists():
        shutil.rmtree(final_dir)
    os.replace(tmp_dir, final_dir)
