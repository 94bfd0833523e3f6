"""``none``: no watermark; the reference for cost, false claims and calibrated thresholds."""
from __future__ import annotations

from torch import nn

from harness.types import Key, TrainHooks, Verification
from schemes.base import Scheme
from tasks.base import Data, Task


class NoWatermark(Scheme):
    name = "none"
    kind = "none"
    summary = "no watermark (reference for accuracy cost and false claims)"

    def keygen(self, task: Task, seed: int) -> Key:
        return Key(self.name, {"seed": seed})

    def hooks(self, key: Key, task: Task) -> list[TrainHooks]:
        return []

    def verify(self, model: nn.Module, key: Key, task: Task, test: Data) -> Verification:
        # Nothing to claim: a 'none' owner never verifies.
        return Verification(wm_acc=float("nan"), verified=False, details={"note": "no watermark"})
