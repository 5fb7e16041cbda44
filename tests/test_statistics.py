import pytest

from scenario_pack.core.evaluation.statistics import Verdict, compare, verdict
from scenario_pack.core.plugins.scenario import Metric, Scored, mean_of


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


def test_few_rows_is_a_flag_beside_the_verdict() -> None:
    """Under 20 rows the verdict stands but is marked weak; only its spelling carries " (few rows)"."""
    metric = Metric("m", "higher", "", mean_of("v"))
    few = compare(metric, runs([0.0] * 10), runs([1.0] * 10), 200, 0)
    assert few.verdict is Verdict.IMPROVED and few.few_rows and few.label == "improved (few rows)"
    enough = compare(metric, runs([0.0] * 20), runs([1.0] * 20), 200, 0)
    assert not enough.few_rows and enough.label == "improved"
    assert Verdict.parse(few.label) == (Verdict.IMPROVED, True)


def test_vectorised_mean_bootstrap_equals_the_general_one() -> None:
    """Means are resampled all at once; rows without the score are skipped exactly as mean_of skips them."""
    base = runs([0, 1, 1, 0, 1] * 6) + [Scored({}, "", {}, {}, 0.0)] * 3
    tuned = runs([1, 1, 0, 1, 1] * 6) + [Scored({}, "", {}, {}, 0.0)] * 3
    fast = Metric("m", "higher", "", mean_of("v"))
    general = Metric("m", "higher", "", lambda rows: mean_of("v")(rows))  # no score_key: the loop
    assert compare(fast, base, tuned, 300, 7) == compare(general, base, tuned, 300, 7)


def test_vectorised_macro_f1_and_bleu_equal_the_library_on_every_resample() -> None:
    """The report's resampled macro-F1 and corpus BLEU are sklearn's and sacrebleu's numbers."""
    import numpy as np

    from scenario_pack.core.evaluation.metrics import (
        corpus_bleu,
        corpus_bleu_resampled,
        macro_f1,
        macro_f1_resampled,
    )

    rng = np.random.default_rng(3)
    labels = ["refund", "order_status", "damaged", "account"]
    gold = [labels[i] for i in rng.integers(0, 4, 40)]
    predicted = [labels[i] if i < 4 else "unknown" for i in rng.integers(0, 5, 40)]
    words = "the order ships in three days refund your card within a week".split()
    replies = [" ".join(rng.choice(words, int(rng.integers(3, 12)))) for _ in range(40)]
    references = [" ".join(rng.choice(words, int(rng.integers(3, 12)))) for _ in range(40)]
    idx = rng.integers(0, 40, (60, 40))
    f1 = [
        macro_f1([predicted[i] for i in r], [gold[i] for i in r], sorted({gold[i] for i in r})) for r in idx
    ]
    bleu = [corpus_bleu([replies[i] for i in r], [references[i] for i in r]) for r in idx]
    assert np.allclose(macro_f1_resampled(predicted, gold, idx), f1, rtol=0, atol=1e-12)
    assert np.allclose(corpus_bleu_resampled(replies, references, idx), bleu, rtol=0, atol=1e-12)
