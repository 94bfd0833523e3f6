"""``zhang`` / ``zhang_noise`` / ``zhang_unrelated``: trigger-set watermarks of Zhang et al. (AsiaCCS 2018).

Training images of a source class are marked and relabelled to a target class, and
mixed into every batch (Li et al. Table 9: 10% of the batch). Three trigger kinds:

- ``content``: the text "TEST" in a 3x5 pixel font (scaled with resolution), white, bottom-left;
- ``noise``: a fixed Gaussian pattern N(0, sigma = 0.3) drawn from the key, added and clipped to [0, 1];
- ``unrelated``: images from outside the task's distribution. Other data sets may be absent
  offline, so these are a seeded procedural family (textured backgrounds with solid geometric
  shapes, :func:`schemes.triggers.shape_images`), unlike any digit, sign or object class.

The public ports fix source 4 -> target 6; here the pair is drawn from the key's seed (the
variant ``zhang+source=4+target=6`` is the ports' pair) so that distinct keys are distinct watermarks
and false claims with another key can be measured. The training trigger set is 100 images
(section 8); wm_acc is measured on held-out inputs: the test images of the source class,
marked (content/noise), or 100 fresh procedural images (unrelated).
"""
from __future__ import annotations

import hashlib
from typing import ClassVar

import torch
from torch import Tensor, nn

from harness.errors import BadInput
from harness.types import Key, TrainHooks, Verification
from schemes.base import Param, Scheme
from schemes.triggers import MixInHooks, class_indices, shape_images, text_mask, trigger_verification
from tasks.base import Data, Task

TRIGGERS = ("content", "noise", "unrelated")


def _digest(x: Tensor) -> str:
    return hashlib.sha256(x.cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def mark(x: Tensor, key: Key) -> Tensor:
    """Apply the key's content/noise trigger to float images in [0, 1] (any device)."""
    p = key.params
    if p["trigger"] == "content":
        m = text_mask(p["text"], tuple(x.shape[-2:])).to(x.device)
        return torch.where(m, torch.ones_like(x), x)
    if p["trigger"] == "noise":
        g = torch.Generator().manual_seed(p["noise_seed"])
        noise = torch.randn(tuple(x.shape[1:]), generator=g) * p["sigma"]
        return (x + noise.to(x.device)).clamp(0, 1)
    raise BadInput(f"zhang: trigger {p['trigger']!r} has no stamp")


class Zhang(Scheme):
    name = "zhang"
    kind = "trigger"
    trigger: ClassVar[str] = "content"
    summary = "trigger set: 'TEST' mark on source-class images relabelled to a target (Zhang et al. 2018)"
    parameters = {"n_triggers": Param("int", 100, 1), "source": Param("int | None", None, 0),
                  "target": Param("int | None", None, 0), "ratio": Param("float", 0.1, 0, 1),
                  "text": Param("str", "TEST"), "sigma": Param("float", 0.3, 0),
                  "threshold": Param("float", 0.5, 0, 1)}

    def keygen(self, task: Task, seed: int) -> Key:
        g = torch.Generator().manual_seed(seed)
        c = task.num_classes
        n = int(self.param("n_triggers"))
        target = self.param("target")
        target = int(torch.randint(c, (1,), generator=g)) if target is None else int(target)
        if not 0 <= target < c:
            raise BadInput(f"{self.name}: need 0 <= target < {c}, got {target}")
        p = {"seed": seed, "trigger": self.trigger, "target": target, "n_triggers": n,
             "ratio": float(self.param("ratio"))}
        if self.trigger == "unrelated":
            p["image_seed"] = int(torch.randint(2**31 - 2, (1,), generator=g))
            return Key(self.name, p)
        source = self.param("source")
        if source is None:  # any class but the target
            source = (target + 1 + int(torch.randint(c - 1, (1,), generator=g))) % c
        if not (0 <= int(source) < c and int(source) != target):  # the target was checked above
            raise BadInput(f"zhang: need 0 <= source != target < {c}, got {source} -> {target}")
        split = self.params.get("split", "train")  # a pirate keys on the attacker split
        data = task.data(split)
        idx = class_indices(data, int(source), n, seed=int(torch.randint(2**31 - 2, (1,), generator=g)))
        if not idx:
            raise BadInput(f"zhang: class {source} has no samples in the {split!r} split")
        p.update(source=int(source), split=split, indices=idx, images_sha=_digest(data.x[torch.tensor(idx)]))
        if self.trigger == "content":
            p["text"] = self.param("text")
            text_mask(p["text"], tuple(task.input_shape[-2:]))  # a mark the font has and the image fits
        else:
            p.update(noise_seed=int(torch.randint(2**31 - 2, (1,), generator=g)),
                     sigma=float(self.param("sigma")))
        return Key(self.name, p)

    def trigger_set(self, key: Key, task: Task) -> tuple[Tensor, Tensor]:
        """The training trigger images (marked or generated) and their target labels."""
        p = self._check(key).params
        if p["trigger"] == "unrelated":
            x = shape_images(p["n_triggers"], task.input_shape, p["image_seed"])
        else:
            data = task.data(p["split"])
            idx = torch.tensor(p["indices"], dtype=torch.long)
            if int(idx.max()) >= len(data) or _digest(data.x[idx]) != p["images_sha"]:
                raise BadInput(f"zhang key: its trigger images are not in this task's {p['split']!r} split "
                               f"(task {task.name}, profile {task.profile})")
            x = mark(data.floats(idx), key)
        return x, torch.full((len(x),), p["target"], dtype=torch.long)

    def backdoor_label(self, key: Key, task: Task) -> int | None:
        return int(self._check(key).params["target"])

    def hooks(self, key: Key, task: Task) -> list[TrainHooks]:
        x, y = self.trigger_set(key, task)
        return [MixInHooks(x, y, key.params["ratio"])]

    def verify(self, model: nn.Module, key: Key, task: Task, test: Data) -> Verification:
        p = self._check(key).params
        threshold = float(self.param("threshold"))
        if p["trigger"] == "unrelated":  # fresh images of the same family, never trained on
            x = shape_images(int(self.param("n_verify")), task.input_shape, p["image_seed"] + 1)
        else:
            x = mark(test.floats(torch.nonzero(test.y.cpu() == p["source"]).flatten().to(test.x.device)), key)
        y = torch.full((len(x),), p["target"], dtype=torch.long)
        return trigger_verification(model, x, y, 1.0 / task.num_classes, threshold, trigger=p["trigger"],
                                    source=p.get("source"), target=p["target"])

    def _check(self, key: Key) -> Key:
        need = {"content": ("source", "indices", "text"), "noise": ("source", "indices", "noise_seed", "sigma"),
                "unrelated": ("image_seed",)}
        trig = key.params.get("trigger")
        if key.scheme != self.name or trig not in TRIGGERS or any(k not in key.params for k in ("target", "ratio", *need[trig])):
            raise BadInput(f"not a {self.name} key (scheme {key.scheme!r}, params {sorted(key.params)})")
        return key


class ZhangNoise(Zhang):
    name = "zhang_noise"
    trigger = "noise"
    parameters = {k: v for k, v in Zhang.parameters.items() if k != "text"}
    summary = "trigger set: fixed Gaussian noise on source-class images relabelled to a target (Zhang et al. 2018)"


class ZhangUnrelated(Zhang):
    name = "zhang_unrelated"
    trigger = "unrelated"
    parameters = {**{k: v for k, v in Zhang.parameters.items() if k not in ("source", "text", "sigma")},
                  "n_verify": Param("int", 100, 1)}  # fresh images of the family, since there is no source class
    summary = "trigger set: out-of-distribution (procedural) images labelled as a target (Zhang et al. 2018)"
