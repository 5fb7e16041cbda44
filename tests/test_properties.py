"""Random rows through each scenario's validation and formatter: accepted or our own error, never a crash."""

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenario_pack.core.data import dataset
from scenario_pack.core.errors import ScenarioPackError
from scenario_pack.core.plugins import registry
from scenario_pack.core.plugins.scenario import Example

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def rows_for(names: list[str]) -> st.SearchStrategy[list[dict]]:
    """Rows that mostly use the scenario's own field names, with text likely but anything possible."""
    keys = st.sampled_from(names) | st.text(min_size=1, max_size=8)
    value = st.text(min_size=0, max_size=120) | VALUES
    return st.lists(st.dictionaries(keys, value, max_size=len(names) + 2), min_size=1, max_size=6)


@pytest.mark.parametrize("name", registry.names())
def test_validation_and_formatting_never_crash(name: str) -> None:
    scenario = registry.load(name)
    names = [f.name for f in scenario.fields]
    settings_ = scenario.defaults().get("scenario", {})

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rows=rows_for(names))
    def check(rows: list[dict]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "rows.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            try:
                loaded = dataset.load(path, scenario)
                context = scenario.build_context(loaded.rows, settings_, path)
                for row in loaded.rows:
                    assert isinstance(scenario.format(row, context), Example)
                    scenario.parse(json.dumps(row)[:200], context)
            except ScenarioPackError:
                pass

    check()
