"""The ``Scheme`` base: keygen, embedding through trainer hooks, verification."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Mapping, NamedTuple

from torch import nn

from harness.errors import BadInput
from harness.types import Key, TrainHooks, Verification
from tasks.base import Data, Task


class Param(NamedTuple):
    """A declared scheme setting: its type (as text), published default and inclusive numeric bounds.

    Bounds live here, beside the default, so a bad value fails when the scheme is named
    (``parse_scheme``, before any training), not when :meth:`Scheme.verify` first reads it.
    """

    kind: str
    default: Any
    low: float | None = None
    high: float | None = None


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
    #: Settings a scheme reads through :meth:`param`: name -> :class:`Param` (a plain
    #: ``(type, default)`` tuple also works). They are what ``SCHEME+PARAM=VALUE`` variants may
    #: change (``schemes.variants``); a constructor with typed keyword arguments (null embedding)
    #: declares its own instead.
    parameters: ClassVar[dict[str, Param]] = {}

    def __init__(self, **params: Any):
        self.check_params(params)
        self.params = params  # only what the caller passed: a stock scheme's config() holds no defaults

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> None:
        """One-line error for a declared number outside its bounds (undeclared names pass through)."""
        for name, value in params.items():
            if name not in cls.parameters or value is None or isinstance(value, str):
                continue
            spec = Param(*cls.parameters[name])
            if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
                low = "" if spec.low is None else f"{spec.low:g} <= "
                high = "" if spec.high is None else f" <= {spec.high:g}"
                raise BadInput(f"{cls.name}: need {low}{name}{high}, got {value}")

    def param(self, name: str) -> Any:
        """A declared parameter's value: the one passed, else the published default."""
        return self.params.get(name, Param(*self.parameters[name]).default)

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
