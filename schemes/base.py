"""The ``Scheme`` base: keygen, embedding through trainer hooks, verification."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from torch import nn

from harness.types import Key, TrainHooks, Verification
from tasks.base import Data, Task


class Scheme(ABC):
    """A watermark scheme. Stateless apart from its constructor parameters.

    ``version`` enters every cache key: bump it when a change alters what
    ``hooks`` or ``keygen`` produce, so cached models are never reused stale.
    ``from_scratch`` says whether embedding happens during the owner's initial
    training (all built-in schemes) — piracy re-embeds with the same hooks.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    summary: ClassVar[str] = ""
    kind: ClassVar[str] = "trigger"  # trigger | bits | null | none: how wm_acc is read

    def __init__(self, **params: Any):
        self.params = params

    @abstractmethod
    def keygen(self, task: Task, seed: int) -> Key:
        """Fresh secret material, a deterministic function of ``seed``."""

    @abstractmethod
    def hooks(self, key: Key, task: Task) -> list[TrainHooks]:
        """Trainer hooks that embed ``key`` while the model trains."""

    @abstractmethod
    def verify(self, model: nn.Module, key: Key, task: Task, test: Data) -> Verification:
        """Owner's claim on ``model`` with ``key``, measured on held-out ``test`` data."""

    @property
    def base_name(self) -> str:
        """The registered scheme this is (a variant's ``name`` adds its changed parameters)."""
        return type(self).name

    def backdoor_label(self, key: Key, task: Task) -> int | None:
        """The label a backdoor-like watermark forces (what Neural Cleanse should flag), or None."""
        return None

    def config(self) -> dict[str, Any]:
        """Everything (besides the key) that shapes embedding; part of cache keys."""
        return {"name": self.name, "version": self.version, **self.params}
