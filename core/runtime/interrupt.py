"""Ctrl-C that cannot be lost.

A library's bare `except:` (an optional import, a cache write) can swallow the KeyboardInterrupt a
SIGINT raises; the request is therefore also remembered, and training and generation raise it again
at their next step or batch. A SIGINT that lands inside a destructor (`__del__`, e.g. a dataset's)
cannot propagate: Python would print it as an ignored exception with a traceback; the request is
remembered all the same, so that report is left out.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

_requested = False


def _handle(signum: int, frame: Any) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


def _unraisable(info: Any) -> None:
    """Quiet for the KeyboardInterrupt of a remembered Ctrl-C; every other report as Python makes it."""
    if not (_requested and isinstance(info.exc_value, KeyboardInterrupt)):
        sys.__unraisablehook__(info)


def install() -> None:
    """Use this handler for SIGINT (call from the main thread, as the CLI does)."""
    signal.signal(signal.SIGINT, _handle)
    sys.unraisablehook = _unraisable


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, even when its first raise was swallowed."""
    if _requested:
        raise KeyboardInterrupt
