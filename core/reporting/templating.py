"""The Jinja environment every rendering of report.json shares (reports and model cards), so a
number or a verdict reads the same in each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from ..evaluation.statistics import Verdict

TEMPLATES = Path(__file__).parent / "templates"
ARROWS = {Verdict.IMPROVED: "▲", Verdict.REGRESSED: "▼"}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _redaction(redacted: dict[str, int] | str) -> str:
    """What redaction replaced before training, in words ("off" under --no-redact)."""
    if redacted == "off":
        return "off (--no-redact)"
    return ", ".join(f"{count} {kind}" for kind, count in redacted.items()) or "none found"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["signed"] = lambda v: "n/a" if v is None else f"{v:+.3f}"
    env.filters["redaction"] = _redaction
    env.globals["arrow"] = arrow
    return env


def arrow(verdict: Verdict, few_rows: bool) -> str:
    """▲ or ▼ beside a clear change on enough rows; a verdict on few rows gets none."""
    return "" if few_rows else ARROWS.get(verdict, "")
