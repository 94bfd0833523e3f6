"""A class-subset view of any task: the offline transfer setting (teacher on some GTSRB classes, student on the rest)."""
from __future__ import annotations

from typing import Sequence

import torch

from harness.errors import BadInput
from tasks.base import Data, Task


class ClassSplit(Task):
    """``base`` restricted to ``classes``, relabelled 0..k-1 in the given order; same arch, resolution, recipes.

    Profile sizes (train_size, test_size, attacker_size) apply after filtering.
    """

    def __init__(self, base: Task, classes: Sequence[int]):
        classes = [int(c) for c in classes]
        if not classes or len(set(classes)) != len(classes) or not all(0 <= c < base.num_classes for c in classes):
            raise BadInput(f"class split of {base.name}: classes must be distinct ids in 0..{base.num_classes - 1}, got {classes}")
        self.base, self.classes = base, classes
        self.name = f"{base.name}[{','.join(map(str, classes))}]"  # distinct names keep model caches apart
        self.num_classes = len(classes)
        for attr in ("channels", "default_resolution", "default_arch", "inject_ratio", "adi_ratio",
                     "piracy_epochs", "profiles", "description", "data_hint"):
            setattr(self, attr, getattr(base, attr))
        self.data_dir, self.profile, self.resolution = base.data_dir, base.profile, base.resolution
        self.recipe_changes = dict(base.recipe_changes)
        self._cache: dict[str, Data] = {}

    def load_split(self, split: str) -> Data:
        d = self.base.load_split(split)
        lut = torch.full((self.base.num_classes,), -1, dtype=torch.long)
        lut[torch.tensor(self.classes)] = torch.arange(len(self.classes))
        new = lut[d.y]
        keep = new >= 0
        return Data(d.x[keep], new[keep])

    def mean_std(self) -> tuple[list[float], list[float]]:
        return self.base.mean_std()

    def describe(self) -> dict:
        return {**super().describe(), "base_task": self.base.name, "classes": self.classes}


def class_split(task: Task, classes: Sequence[int]) -> ClassSplit:
    return ClassSplit(task, classes)
