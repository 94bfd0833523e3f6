"""The ``Scheme`` base: keygen, embedding through trainer hooks, verification."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from torch import nn

from harness.errors import BadInput
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
    #: Settings a scheme reads through :meth:`param`: name -> (type, published default). They are
    #: what ``SCHEME+PARAM=VALUE`` variants may change (``schemes.variants``); a constructor with
    #: typed keyword arguments (null embedding) declares its own instead.
    parameters: ClassVar[dict[str, tuple[str, Any]]] = {}

    def __init__(self, **params: Any):
        self.params = params  # only what the caller passed: a stock scheme's config() holds no defaults

    def param(self, name: str, low: float | None = None, high: float | None = None) -> Any:
        """A declared parameter's value: the one passed, else the published default.

        ``low`` / ``high`` bound a number (inclusive); outside them is a one-line error.
        """
        value = self.params.get(name, self.parameters[name][1])
        if value is not None and ((low is not None and value < low) or (high is not None and value > high)):
            bounds = f"{'' if low is None else f'{low} <= '}{name}{'' if high is None else f' <= {high}'}"
            raise BadInput(f"{self.name}: need {bounds}, got {value}")
        return value

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
