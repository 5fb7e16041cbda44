import pytest

from scenario_pack.core.scenario import Metric, Scored, mean_of
from scenario_pack.core.statistics import compare, verdict


def runs(values: list[float]) -> list[Scored]:
    return [Scored({}, "", {}, {"v": v}, 0.0) for v in values]


@pytest.mark.parametrize(("direction", "better", "worse"), [("higher", 1.0, 0.0), ("lower", 0.0, 1.0)])
def test_verdict_follows_declared_direction(direction: str, better: float, worse: float) -> None:
    metric = Metric("m", direction, "", mean_of("v"))
    base = runs([worse] * 30)
    assert compare(metric, base, runs([better] * 30), 200, 0).verdict == "improved"
    assert compare(metric, runs([better] * 30), base, 200, 0).verdict == "regressed"


def test_noise_is_no_clear_change() -> None:
    metric = Metric("m", "higher", "", mean_of("v"))
    base = runs([0, 1] * 15)
    tuned = runs([1, 0] * 14 + [1, 1])
    result = compare(metric, base, tuned, 500, 0)
    assert result.verdict == "no clear change" and result.low < 0 < result.high


def test_verdict_edges() -> None:
    assert verdict(float("nan"), 1.0, "higher") == "not comparable"
    assert verdict(0.1, 0.2, "lower") == "regressed"


def test_vectorised_mean_bootstrap_equals_the_general_one() -> None:
    """Means are resampled all at once; rows without the score are skipped exactly as mean_of skips them."""
    base = runs([0, 1, 1, 0, 1] * 6) + [Scored({}, "", {}, {}, 0.0)] * 3
    tuned = runs([1, 1, 0, 1, 1] * 6) + [Scored({}, "", {}, {}, 0.0)] * 3
    fast = Metric("m", "higher", "", mean_of("v"))
    general = Metric("m", "higher", "", lambda rows: mean_of("v")(rows))  # no score_key: the loop
    assert compare(fast, base, tuned, 300, 7) == compare(general, base, tuned, 300, 7)
