"""The coding standard: ruff with a rule set the user can point at (`--standard ruff.toml`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

DEFAULT = Path(__file__).with_name("coding_standard.toml")


def ruff_binary() -> str:
    from ruff.__main__ import find_ruff_bin

    return str(find_ruff_bin())


def violations(code: str, config: Path) -> list[str]:
    """Rule codes ruff reports for `code` under `config` (an empty list: the code meets the standard)."""
    result = subprocess.run(
        [
            ruff_binary(),
            "check",
            "--config",
            str(config),
            "--output-format",
            "json",
            "--stdin-filename",
            "solution.py",
            "-",
        ],
        input=code,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"ruff failed on {config}: {result.stderr.strip()[:300]}")
    return [item["code"] or "syntax" for item in json.loads(result.stdout or "[]")]
