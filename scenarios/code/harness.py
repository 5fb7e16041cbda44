"""How a row's code and tests are laid out and run: plain pytest for Python rows, an in-process
Django project (in-memory SQLite, the row's module importable as `app.solution`) for Django rows.
Every run goes through core's sandbox."""

from __future__ import annotations

import re

from scenario_pack.core import sandbox

PYTEST_ARGS = [
    "-q",
    "-x",
    "-p",
    "no:cacheprovider",
    "--no-header",
    "-W",
    "ignore::DeprecationWarning",
]
# pytest loads every plugin installed beside it (hypothesis, anyio, ...) unless told not to: measured
# on the default install, 0.95 s of CPU per answer with them, 0.17 s without (benchmarks/sandbox_startup.py).
# The rows' tests need none of them; Django rows set Django up in their own conftest.py.
PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
LIMITS = sandbox.Limits(wall_seconds=30, cpu_seconds=20, memory_mb=2048)

URLS = 'from .solution import *  # noqa\nurlpatterns = globals().get("urlpatterns", [])\n'
DJANGO_CONFTEST = """\
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "app"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    ROOT_URLCONF="app.urls",
    USE_TZ=True,
    SECRET_KEY="sandbox",
    ALLOWED_HOSTS=["testserver"],
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
)
django.setup()

from django.core.management import call_command  # noqa: E402

call_command("migrate", run_syncdb=True, verbosity=0)
"""


def files(kind: str, code: str, tests: str) -> dict[str, str]:
    """The work folder for one run: the code under test and the tests, laid out for `kind`."""
    if kind == "django":
        return {
            "app/__init__.py": "",
            "app/solution.py": code,
            "app/models.py": "from .solution import *  # noqa\n",
            "app/urls.py": URLS,
            "conftest.py": DJANGO_CONFTEST,
            "test_solution.py": tests,
        }
    return {"solution.py": code, "test_solution.py": tests}


def run_tests(jobs: list[tuple[str, str, str]]) -> list[sandbox.Outcome]:
    """(kind, code, tests) per job, run in parallel over the CPU cores."""
    return sandbox.run_many([(files(*job), "pytest", PYTEST_ARGS) for job in jobs], LIMITS, env=PYTEST_ENV)


RAISED = re.compile(r"^E\s+(\w+(?:Error|Exception))\b", re.MULTILINE)


def failure_cause(outcome: sandbox.Outcome) -> str:
    """Why an answer's tests did not pass, read from pytest's output: a model that names the wrong
    function fails differently from one whose function runs and returns the wrong value."""
    if outcome.passed:
        return "passed"
    if outcome.status in ("timeout", "crashed"):
        return f"{outcome.status} (sandbox limit)"
    raised = RAISED.findall(outcome.output)
    if (
        any(name in ("ImportError", "ModuleNotFoundError") for name in raised)
        or "cannot import" in outcome.output
    ):
        return "an import fails (a module or name that does not exist)"
    if raised and raised[0] != "AssertionError":
        return f"raises {raised[0]}"
    if "AssertionError" in outcome.output or "assert " in outcome.output:
        return "runs, wrong result (assertion fails)"
    return "fails (other)"
