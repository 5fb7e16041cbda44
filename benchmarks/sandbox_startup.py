"""CPU cost of scoring one code answer in the sandbox: pytest with every installed plugin against the lean
pytest the code scenario runs (plugin autoload off).

    python benchmarks/sandbox_startup.py [--runs 5]

Each side scores the same answers one at a time (a passing Python row and a passing Django row, the
code sample's two kinds), so the CPU seconds of each finished child (user + system, from
getrusage) are its own. The cost is paid for every answer of every model compared in the code scenario.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, table  # noqa: E402

PYTHON_ROW = (
    "python",
    "def add(a, b):\n    return a + b\n",
    "from solution import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
)
DJANGO_ROW = (
    "django",
    "from django.http import JsonResponse\n\n\ndef ping(request):\n    return JsonResponse({'ok': True})\n",
    "from django.test import RequestFactory\n\nfrom app.solution import ping\n\n\n"
    "def test_ping():\n    assert ping(RequestFactory().get('/')).status_code == 200\n",
)


def cpu_seconds(row: tuple[str, str, str], env: dict[str, str]) -> float:
    from scenario_pack.core.sandbox import runner
    from scenario_pack.scenarios.code import harness

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    outcome = runner.run(harness.files(*row), "pytest", harness.PYTEST_ARGS, harness.LIMITS, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not outcome.passed:
        sys.exit(f"the {row[0]} row did not pass:\n{outcome.output}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="answers scored per row kind and side")
    args = parser.parse_args()

    from scenario_pack.scenarios.code import harness

    sides = {"every installed plugin": {}, "lean (autoload off)": harness.PYTEST_ENV}
    rows = []
    for row in (PYTHON_ROW, DJANGO_ROW):
        medians = {}
        for side, env in sides.items():
            cpu_seconds(row, env)  # warm the page cache
            medians[side] = statistics.median(cpu_seconds(row, env) for _ in range(args.runs))
        full, lean = medians.values()
        rows.append([row[0], f"{full:.2f}", f"{lean:.2f}", f"{full / lean:.1f}x"])
    print(f"Machine: {machine()}")
    print(f"CPU seconds per answer scored, median of {args.runs}:\n")
    print(table(["row kind", *sides, "ratio"], rows))


if __name__ == "__main__":
    main()
