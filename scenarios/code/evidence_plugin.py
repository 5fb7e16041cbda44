"""A pytest plugin the harness loads into the sandboxed pytest (as `_scenario_evidence`) before any
answer code is imported: it records which tests were collected, which test functions ran to their
end and which passed, under a key the answer never sees (read from a file, then deleted).

The harness counts a pass only from these records (harness.judge), never from the exit code:
an answer that exits early, calls pytest.exit, skips, or patches pytest's runner leaves no record
of its tests passing. Standard library and pytest only: it runs inside the sandbox.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import pytest

KEY_FILE, RECORDS_FILE = "_scenario_key", "_scenario_records"  # as harness.py names them
EQUALS_PROBES = 1000  # container items looked at for objects that equal everything


def _writer() -> Any:
    with open(KEY_FILE, encoding="ascii") as handle:
        key = handle.read().strip()
    os.remove(KEY_FILE)
    fd = os.open(RECORDS_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(event: str, detail: object = "") -> None:
        os.write(fd, f"{key} {event} {detail}\n".encode("utf-8", "replace"))

    return write


_write = _writer()


class _Sentinel:
    """Equal to nothing but itself: a value that compares equal to it equals everything."""


def _equals_everything(value: object, budget: list[int], depth: int = 0) -> bool:
    budget[0] -= 1
    if budget[0] < 0 or depth > 3:
        return False
    try:
        if bool(value == _Sentinel()):
            return True
    except Exception:  # e.g. an array whose comparison is elementwise: not a forged value
        return False
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_equals_everything(item, budget, depth + 1) for item in value)
    return False


def plain(value: object) -> object:
    """Wrapped around both sides of every == and != the tests assert: refuses a value that compares
    equal to everything (an answer that returns such an object passes any equality test)."""
    if _equals_everything(value, [EQUALS_PROBES]):
        raise AssertionError("the answer returned an object that compares equal to everything")
    return value


def _check_unittest_equality() -> None:
    """unittest's assertEqual and assertNotEqual refuse values that equal everything, as asserts do."""
    import unittest

    equal, not_equal = unittest.TestCase._baseAssertEqual, unittest.TestCase.assertNotEqual

    def base_equal(self: unittest.TestCase, first: object, second: object, msg: object = None) -> None:
        equal(self, plain(first), plain(second), msg)

    def assert_not_equal(self: unittest.TestCase, first: object, second: object, msg: object = None) -> None:
        not_equal(self, plain(first), plain(second), msg)

    unittest.TestCase._baseAssertEqual = base_equal
    unittest.TestCase.assertNotEqual = assert_not_equal


_check_unittest_equality()


def pytest_collection_finish(session: pytest.Session) -> None:
    _write("collected", len(session.items))
    for item in session.items:
        _write("item", item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Records that the test function itself returned (plain and unittest-style tests alike), not
    merely that pytest's runner did."""
    if not isinstance(item, pytest.Function):
        return (yield)
    returned = []
    original = item.obj

    @functools.wraps(original)
    def test(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        returned.append(True)
        return result

    item.obj = test
    try:
        result = yield
    finally:
        item.obj = original
    if returned:
        _write("returned", item.nodeid)
    return result


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        _write("failed", report.nodeid)
    elif report.skipped:
        _write("skipped", report.nodeid)
    elif report.when == "call":
        _write("passed", report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _write("finished", int(exitstatus))
