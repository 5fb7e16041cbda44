"""Ctrl-C that cannot be lost.

A library's bare `except:` (an optional import, a cache write) can swallow the KeyboardInterrupt a
SIGINT raises; the request is therefore also remembered, and training and generation raise it again
at their next step or batch.
"""

from __future__ import annotations

import signal
from typing import Any

_requested = False


def _handle(signum: int, frame: Any) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


def install() -> None:
    """Use this handler for SIGINT (call from the main thread, as the CLI does)."""
    signal.signal(signal.SIGINT, _handle)


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, even when its first raise was swallowed."""
    if _requested:
        raise KeyboardInterrupt
