"""The ``Attack`` base and the context the harness hands every attack."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from harness.types import AttackResult, Key, Verification
from tasks.base import Data, Recipe, Task


@dataclass
class AttackContext:
    """Everything an attack may use. It never sees the owner's training set beyond ``attacker``.

    ``scheme``/``owner_key`` are there for attacks that are generic over schemes
    (piracy re-embeds with the same scheme; curves call ``verify_owner``), never
    for scheme-specific branches.
    """

    task: Task
    scheme: Any  # schemes.base.Scheme (typed loosely: attacks must not import schemes)
    owner_key: Key
    recipe: Recipe  # the owner's training recipe (piracy continues at its last lr)
    attacker: Data  # the attacker's split (paper: 5,000 training images)
    test: Data  # held-out data for measuring (never trained on)
    seed: int
    setting: str
    device: torch.device
    params: dict[str, Any] = field(default_factory=dict)
    train_size: int = 0  # size of the owner's training set (for the last-lr computation)
    extra: dict[str, Any] = field(default_factory=dict)  # harness-provided extras (e.g. "train" for extraction "all")
    checkpoints: Path | None = None  # the cell's checkpoint stem (harness-provided; None: no checkpoints)

    def checkpoint(self, part: str = "") -> Path | None:
        """Where the attack's training ``part`` keeps its mid-training checkpoint, so a long attack
        (extraction with every training image: hours on a CPU) resumes after a kill or a session's end.
        One file per training of the cell (``part`` names which: a pirate key, a rate); None without a stem."""
        if self.checkpoints is None:
            return None
        return self.checkpoints.with_name(f"{self.checkpoints.name}{'.' + part if part else ''}.partial.pt")

    def verify_owner(self, model: nn.Module) -> Verification:
        return self.scheme.verify(model, self.owner_key, self.task, self.test)


class Attack(ABC):
    """An attack on a watermarked model. ``settings`` name the variants the grid runs."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    summary: ClassVar[str] = ""
    settings: ClassVar[dict[str, dict[str, Any]]] = {"default": {}}
    default_settings: ClassVar[tuple[str, ...] | None] = None  # what `--attack X` runs (None: all)

    def setting_names(self, profile: str) -> list[str]:
        return list(self.default_settings or self.settings)

    @abstractmethod
    def run(self, victim: nn.Module, ctx: AttackContext) -> AttackResult:
        """Attack a *copy* of the victim (the harness passes a copy) and report."""
