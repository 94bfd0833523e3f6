"""Core task types: in-memory data, training recipes, profiles and the ``Task`` base."""
from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

import torch
from torch import Tensor, nn

PROFILES = ("smoke", "quick", "paper")
VARIANT_SEP = "+"  # "quick+warmup_steps=500": the quick profile with one recipe field changed


@dataclass
class Data:
    """A split held as tensors. ``x`` is uint8 (N, C, H, W) or float in [0, 1]; ``y`` int64.

    Keeping uint8 on the device and converting per batch costs 4x less memory than
    float storage and no per-sample Python.
    """

    x: Tensor
    y: Tensor

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x has {self.x.shape[0]} rows but y has {self.y.shape[0]}")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device: torch.device | str) -> "Data":
        return Data(self.x.to(device), self.y.to(device))

    def subset(self, idx: Tensor | slice) -> "Data":
        return Data(self.x[idx], self.y[idx])

    def floats(self, idx: Tensor | slice | None = None) -> Tensor:
        """Float pixels in [0, 1] for rows ``idx`` (all rows when None)."""
        x = self.x if idx is None else self.x[idx]
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()

    def batch(self, idx: Tensor | slice) -> tuple[Tensor, Tensor]:
        return self.floats(idx), self.y[idx]

    def take(self, n: int, seed: int) -> "Data":
        """A seeded random subset of ``n`` rows (all rows if ``n`` >= len)."""
        if n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self), generator=g)[:n].to(self.x.device)
        return self.subset(idx)


@dataclass(frozen=True)
class Recipe:
    """How a model is trained. Recorded in every result row and part of every cache key.

    ``lr_decay`` is Keras-style inverse-time decay per update, lr_t = lr / (1 + decay * t),
    which is what Table 14's "decay" column means; ``schedule='cosine'`` decays to
    ``lr * min_lr_ratio`` instead. ``final_lr`` is the "last learning rate" that the
    paper's piracy protocol continues training with.
    """

    optimizer: str = "sgd"  # sgd | adam
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0  # L2 on weights (optimizer weight_decay)
    lr_decay: float = 0.0  # Keras inverse-time decay per step
    schedule: str = "constant"  # constant | inverse_time | cosine
    min_lr_ratio: float = 0.0
    batch_size: int = 128
    epochs: int = 10
    grad_clip: float | None = None  # max global grad norm; stabilises the +-lambda null-embedding inputs
    warmup_steps: int = 0

    def replace(self, **changes) -> "Recipe":
        return dataclasses.replace(self, **changes)

    def lr_at(self, step: int, total_steps: int) -> float:
        if self.warmup_steps and step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.schedule == "inverse_time":
            return self.lr / (1.0 + self.lr_decay * step)
        if self.schedule == "cosine":
            t = min(step / max(total_steps, 1), 1.0)
            lo = self.lr * self.min_lr_ratio
            return lo + 0.5 * (self.lr - lo) * (1 + math.cos(math.pi * t))
        return self.lr

    def final_lr(self, n_train: int) -> float:
        steps = self.epochs * math.ceil(n_train / self.batch_size)
        return self.lr_at(steps, steps)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


RECIPE_CHOICES = {"optimizer": ("sgd", "adam"), "schedule": ("constant", "inverse_time", "cosine")}


def typed_value(text: str, kind: str, label: str) -> Any:
    """``text`` as the type named by annotation text ``kind`` (``int``, ``float | None``, ``bool``, ``str``).

    Shared by recipe fields (profile variants) and scheme parameters (``schemes.variants``); the
    one-line error names ``label`` and the type.
    """
    from harness.errors import BadInput

    low = text.lower()
    if "None" in kind and low in ("none", "null"):
        return None
    try:
        if kind.startswith("bool"):
            if low not in ("true", "false", "1", "0"):
                raise ValueError
            return low in ("true", "1")
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
    except ValueError:
        what = "true or false" if kind.startswith("bool") else "an integer" if kind.startswith("int") else "a number"
        raise BadInput(f"{label}: {text!r} is not {what}") from None
    return text


def split_change(part: str, where: str, example: str) -> tuple[str, str]:
    """``'FIELD=VALUE'`` -> (field, value text); one-line error naming ``where`` the text came from."""
    from harness.errors import BadInput

    name, eq, text = (t.strip() for t in part.partition("="))
    if not eq or not name or not text:
        raise BadInput(f"{where}: expected {example}, got {part!r}")
    return name, text


def join_variant(base: str, changes: dict[str, Any]) -> str:
    """The canonical variant name: sorted fields, each parsed value's text (so lr=0.010 and lr=0.01 are one)."""
    def text(v: Any) -> str:
        return "none" if v is None else str(v).lower() if isinstance(v, bool) else str(v)

    return VARIANT_SEP.join([base, *(f"{k}={text(changes[k])}" for k in sorted(changes))])


def _recipe_value(name: str, text: str) -> Any:
    """``text`` as the type of Recipe field ``name`` (one-line error naming the field's type)."""
    from harness.errors import BadInput

    kinds = {f.name: str(f.type) for f in dataclasses.fields(Recipe)}
    if name not in kinds:
        raise BadInput(f"unknown recipe field {name!r}; known: {', '.join(kinds)}")
    if name in RECIPE_CHOICES and text not in RECIPE_CHOICES[name]:
        raise BadInput(f"recipe field {name}: {text!r} is not one of {', '.join(RECIPE_CHOICES[name])}")
    return typed_value(text, kinds[name], f"recipe field {name}")


def parse_profile(profile: str) -> tuple[str, dict[str, Any]]:
    """``'quick+warmup_steps=500+epochs=12'`` -> ``('quick', {'warmup_steps': 500, 'epochs': 12})``.

    A profile *variant* is a stock profile with recipe fields changed (``bench run --recipe``). Its
    full name is the cell's profile, so its results never mix with the stock profile's, and the
    changed recipe is in every cache key and result row.
    """
    base, *parts = profile.split(VARIANT_SEP)
    return base, dict(_recipe_change(part, f"profile variant {profile!r}") for part in parts)


def _recipe_change(part: str, where: str) -> tuple[str, Any]:
    """``'FIELD=VALUE'`` -> (field, typed value); one-line error naming ``where`` the text came from."""
    name, text = split_change(part, where, "FIELD=VALUE (e.g. warmup_steps=500)")
    return name, _recipe_value(name, text)


def variant_name(profile: str, changes: Iterable[str]) -> str:
    """The profile name for ``profile`` with ``FIELD=VALUE`` recipe changes (sorted, so the name is canonical)."""
    base, old = parse_profile(profile)
    return join_variant(base, {**old, **dict(_recipe_change(c, "--recipe") for c in changes)})


@dataclass(frozen=True)
class ProfileSpec:
    """What a profile changes: sizes, epochs and (recorded) the optimiser recipe; never an algorithm."""

    name: str
    recipe: Recipe
    train_size: int | None = None  # None: the whole official training set
    test_size: int | None = None
    attacker_size: int = 5000
    resolution: int | None = None  # None: the task default
    notes: str = ""


class Task(ABC):
    """A classification task: official data, the paper architecture, recipes per profile."""

    name: ClassVar[str]
    num_classes: ClassVar[int]
    channels: ClassVar[int]
    default_resolution: ClassVar[tuple[int, int]]
    default_arch: ClassVar[str]
    inject_ratio: ClassVar[float]  # Table 14: share of extra watermark samples per batch
    adi_ratio: ClassVar[float] = 8 / 128  # Li et al. Table 9
    piracy_epochs: ClassVar[dict[str, int]] = {}  # Li et al. section 7.2 per scheme; "default" fallback
    profiles: ClassVar[dict[str, ProfileSpec]]
    description: ClassVar[str] = ""
    data_hint: ClassVar[str] = ""  # where the files go and how to get them

    def __init__(self, data_dir: str | None = None, profile: str = "quick", resolution: int | None = None):
        profile, changes = parse_profile(profile)
        if profile not in self.profiles:
            from harness.errors import BadInput

            raise BadInput(f"unknown profile {profile!r} for task {self.name}; known: {', '.join(self.profiles)}")
        self.data_dir = data_dir
        self.profile = profile  # the stock profile: attacks key their own sizes on it
        self.recipe_changes = changes  # a variant's changed recipe fields (empty for a stock profile)
        spec = self.profiles[profile]
        res = resolution or spec.resolution
        self.resolution: tuple[int, int] = (res, res) if res else self.default_resolution
        self._cache: dict[str, Data] = {}

    @property
    def spec(self) -> ProfileSpec:
        return self.profiles[self.profile]

    @property
    def recipe(self) -> Recipe:
        """The profile's recipe with a variant's changes: the owner, the clean model, and every attack
        that trains with the owner's recipe (piracy's paper protocol, extraction, fine-tuning) use it."""
        return self.spec.recipe.replace(**self.recipe_changes) if self.recipe_changes else self.spec.recipe

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.resolution)

    @abstractmethod
    def load_split(self, split: str) -> Data:
        """The full official 'train' or 'test' split (uint8 NCHW, int64 labels)."""

    def data(self, split: str) -> Data:
        """'train' | 'test' | 'attacker' for the current profile (CPU tensors; cached in memory)."""
        if split not in ("train", "test", "attacker"):
            from harness.errors import BadInput

            raise BadInput(f"unknown split {split!r}; valid: train, test, attacker")
        if split not in self._cache:
            if split == "attacker":
                # The attacker holds a seeded subset of the owner's training set (paper: 5,000 images).
                d = self.data("train").take(self.spec.attacker_size, seed=12345)
            else:
                d = self.load_split(split)
                size = self.spec.train_size if split == "train" else self.spec.test_size
                if size is not None:
                    d = d.take(size, seed=0 if split == "train" else 1)
            self._cache[split] = d
        return self._cache[split]

    def model(self, arch: str | None = None) -> nn.Module:
        from tasks.models import build_model

        return build_model(arch or self.default_arch, self.input_shape, self.num_classes, mean_std=self.mean_std())

    def mean_std(self) -> tuple[list[float], list[float]]:
        """Per-channel standardisation baked into the model's first layer (inputs stay in [0, 1])."""
        return [0.5] * self.channels, [0.5] * self.channels

    def piracy_epochs_for(self, scheme: str) -> int:
        return self.piracy_epochs.get(scheme, self.piracy_epochs.get("default", 10))

    def describe(self) -> dict:
        return {"task": self.name, "profile": self.profile, "resolution": list(self.resolution),
                **({"recipe_changes": dict(self.recipe_changes)} if self.recipe_changes else {}),
                "recipe": self.recipe.as_dict(), "train_size": self.spec.train_size,
                "test_size": self.spec.test_size, "attacker_size": self.spec.attacker_size}
