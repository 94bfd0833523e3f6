"""A third-party scheme for wmbench's plugin tests: a 4x4 corner patch relabelled to class 0.

``WMBENCH_TOY_WEAK=1`` deliberately weakens it (no triggers are mixed in), so
``bench check`` must report a regression against a baseline of the normal version.
"""
from __future__ import annotations

import os

import torch
from torch import nn

from harness.evaluate import accuracy
from harness.types import ExtraBatch, Key, TrainHooks, Verification
from schemes.base import Scheme


def stamp(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    x[..., -4:, -4:] = 1.0
    return x


class _Hooks(TrainHooks):
    def __init__(self, ratio: float):
        self.ratio = ratio

    def extra_batch(self, x, y, gen):
        k = int(len(y) * self.ratio)
        if k == 0:
            return []
        return [ExtraBatch(stamp(x[:k]), torch.zeros_like(y[:k]))]


class ToyPatch(Scheme):
    name = "toy_patch"
    summary = "plugin test scheme: 4x4 corner patch -> class 0"

    def config(self):
        # Everything that shapes embedding belongs in the cache key.
        return {**super().config(), "weak": os.environ.get("WMBENCH_TOY_WEAK") == "1"}

    def keygen(self, task, seed):
        return Key(self.name, {"target": 0, "seed": seed})

    def hooks(self, key, task):
        weak = os.environ.get("WMBENCH_TOY_WEAK") == "1"
        return [_Hooks(0.0 if weak else 0.1)]

    def verify(self, model: nn.Module, key: Key, task, test) -> Verification:
        keep = test.y != 0
        wm_acc = accuracy(model, test.subset(keep), transform=stamp, target=0)
        return Verification(wm_acc=wm_acc, verified=wm_acc >= 0.5, threshold=0.5)
