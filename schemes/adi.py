"""``adi``: 100 abstract images with random labels, embedded from scratch (Adi et al., USENIX Security 2018).

Adi et al.'s 100 abstract photographs are not available offline, so the trigger set is a
seeded procedural abstract set at the task's resolution and channels (soft colour blobs,
rectangles, thick lines: :func:`schemes.triggers.abstract_images`), each with a random label.
Trigger images join every batch at ``task.adi_ratio`` of it (Li et al. Table 9: 36/128 for
Digit, 8/128 otherwise; the original used 2 per batch of 100). wm_acc is the accuracy on
the 100 trigger images; verified iff wm_acc >= threshold (default 0.5; Adi's own test is
stricter, pass ``threshold`` to use it) and a binomial p-value against chance is reported.
"""
from __future__ import annotations

import torch
from torch import nn

from harness.errors import BadInput
from harness.types import Key, TrainHooks, Verification
from schemes.base import Param, Scheme
from schemes.triggers import MixInHooks, abstract_images, trigger_verification
from tasks.base import Data, Task


class Adi(Scheme):
    name = "adi"
    kind = "trigger"
    summary = "trigger set of 100 abstract images with random labels, from scratch (Adi et al. 2018)"
    parameters = {"n_triggers": Param("int", 100, 1), "ratio": Param("float | None", None, 0, 1),
                  "threshold": Param("float", 0.5, 0, 1)}

    def keygen(self, task: Task, seed: int) -> Key:
        g = torch.Generator().manual_seed(seed)
        n = int(self.param("n_triggers"))
        labels = torch.randint(task.num_classes, (n,), generator=g).tolist()
        ratio = self.param("ratio")
        return Key(self.name, {"seed": seed, "image_seed": int(torch.randint(2**31 - 2, (1,), generator=g)),
                               "labels": labels, "ratio": float(task.adi_ratio if ratio is None else ratio)})

    def trigger_set(self, key: Key, task: Task) -> tuple[torch.Tensor, torch.Tensor]:
        p = self._check(key).params
        if any(not 0 <= int(l) < task.num_classes for l in p["labels"]):
            raise BadInput(f"adi key: labels outside 0..{task.num_classes - 1} for task {task.name}")
        x = abstract_images(len(p["labels"]), task.input_shape, p["image_seed"])
        return x, torch.tensor(p["labels"], dtype=torch.long)

    def hooks(self, key: Key, task: Task) -> list[TrainHooks]:
        x, y = self.trigger_set(key, task)
        return [MixInHooks(x, y, key.params["ratio"])]

    def verify(self, model: nn.Module, key: Key, task: Task, test: Data) -> Verification:
        x, y = self.trigger_set(key, task)
        return trigger_verification(model, x, y, 1.0 / task.num_classes, float(self.param("threshold")))

    def _check(self, key: Key) -> Key:
        if key.scheme != self.name or any(k not in key.params for k in ("image_seed", "labels", "ratio")):
            raise BadInput(f"not an {self.name} key (scheme {key.scheme!r}, params {sorted(key.params)})")
        return key
