"""The few-shot prompting baseline: would a good prompt have done as well as fine-tuning?

The base model sees, before each test row, K solved training rows as earlier chat turns. The K
are the training rows nearest to the test row's input (similarity.nearest, the near-duplicate measure),
so the baseline gets the best examples a retrieval prompt could give it, never a test row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..data import similarity
from ..errors import ConfigError
from ..plugins.scenario import Example

METHOD = "cosine similarity of TF-IDF character 3-5-grams of the input field (scikit-learn)"
SPEC = re.compile(r"^few-shot(?::(\d+))?$")
DEFAULT_SHOTS = 3


@dataclass(frozen=True)
class Baseline:
    """What `--baseline` asked for: `none`, `few-shot` (K=3) or `few-shot:K`."""

    shots: int

    @classmethod
    def parse(cls, spec: str) -> Baseline:
        if spec == "none":
            return cls(0)
        match = SPEC.match(spec)
        if not match or (match.group(1) is not None and int(match.group(1)) < 1):
            raise ConfigError(
                f"--baseline {spec!r} is not understood. Use 'few-shot' (K={DEFAULT_SHOTS}), "
                "'few-shot:K' with K >= 1, or 'none'."
            )
        return cls(int(match.group(1)) if match.group(1) else DEFAULT_SHOTS)


def nearest(train_inputs: list[str], test_inputs: list[str], k: int) -> list[list[int]]:
    """For each test input, the indices of its k nearest training inputs, nearest first."""
    _, found = similarity.nearest(test_inputs, train_inputs, k)
    return [list(map(int, row)) for row in found]


def with_shots(example: Example, shots: list[Example]) -> Example:
    """The test example's prompt with solved examples as earlier user/assistant turns.

    The test row's own system message is kept; the shots contribute their user turns and answers.
    """
    system = [m for m in example.prompt if m["role"] == "system"]
    turns: list[dict[str, str]] = []
    for shot in shots:
        turns += [m for m in shot.prompt if m["role"] != "system"]
        turns.append({"role": "assistant", "content": shot.completion})
    rest = [m for m in example.prompt if m["role"] != "system"]
    return Example(prompt=system + turns + rest, completion=example.completion)


def build(
    train: list[Example],
    train_inputs: list[str],
    test: list[Example],
    test_inputs: list[str],
    shots: int,
    fits: Callable[[int, Example], bool],
) -> tuple[list[Example], list[int]]:
    """Few-shot prompts for the test rows and the number of shots each got.

    `fits(i, example)` says whether test row i's prompt plus its answer budget fits the model's context;
    the farthest shots are dropped until it does, so long rows get fewer shots, never a cut prompt.
    """
    prompts, counts = [], []
    for i, (example, picked) in enumerate(zip(test, nearest(train_inputs, test_inputs, shots), strict=True)):
        chosen = [train[j] for j in picked]
        prompt = with_shots(example, chosen)
        while chosen and not fits(i, prompt):
            chosen.pop()
            prompt = with_shots(example, chosen)
        prompts.append(prompt)
        counts.append(len(chosen))
    return prompts, counts
