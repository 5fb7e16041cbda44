"""One process or several (`accelerate launch`): who writes files and how evaluation is shared.

Every process runs the same pipeline. Training is data parallel through the Trainer; generation is
split across processes and gathered; only the main process writes files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Processes:
    state: Any  # accelerate.PartialState

    @classmethod
    def current(cls) -> Processes:
        """The launcher's processes. Without an accelerator, accelerate only forms a multi-process CPU
        (gloo) group when told it runs on CPU, so say so; with one, it picks the device itself."""
        import torch
        from accelerate import PartialState

        accelerator = torch.cuda.is_available() or torch.backends.mps.is_available()
        return cls(PartialState(cpu=not accelerator))

    @property
    def main(self) -> bool:
        return self.state.is_main_process

    @property
    def count(self) -> int:
        return self.state.num_processes

    @property
    def device(self) -> str:
        """This process's device (its own GPU under accelerate launch)."""
        return str(self.state.device)

    def wait(self) -> None:
        self.state.wait_for_everyone()

    def share(self, items: list[int], compute: Callable[[list[int]], list[T]]) -> list[T]:
        """compute() on each process's share of items; every process gets all results, in order."""
        if self.count == 1:
            return compute(items)
        from accelerate.utils import gather_object

        with self.state.split_between_processes(items) as mine:
            part = compute(list(mine))
        return gather_object(part)
