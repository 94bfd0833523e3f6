"""Small shared types that schemes, attacks and the harness all speak (no other cross-imports)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn


@dataclass
class Key:
    """A scheme's secret (or, for null embedding, public certificate) material; JSON-serialisable."""

    scheme: str
    params: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps({"scheme": self.scheme, "params": self.params}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Key":
        obj = json.loads(text)
        return cls(obj["scheme"], obj["params"])

    def fingerprint(self) -> str:
        import hashlib

        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


@dataclass
class ExtraBatch:
    """Extra training samples a hook adds to a batch; ``weight`` scales their per-sample loss."""

    x: Tensor
    y: Tensor
    weight: float = 1.0


class TrainHooks:
    """Hook points of the one trainer. Schemes (and attacks) override what they need.

    Order per step: ``extra_batch`` -> one forward of the concatenated batch ->
    weighted CE + ``extra_loss`` -> backward/step. ``setup`` may return extra
    parameters (e.g. DeepSigns centres) to optimise alongside the model.
    """

    def setup(self, model: nn.Module) -> list[nn.Parameter]:
        return []

    def extra_batch(self, x: Tensor, y: Tensor, gen: torch.Generator) -> list[ExtraBatch]:
        return []

    def extra_loss(self, model: nn.Module, x: Tensor, y: Tensor, logits: Tensor) -> Tensor | None:
        return None

    def on_epoch_end(self, model: nn.Module, epoch: int) -> dict[str, float] | None:
        return None

    def teardown(self, model: nn.Module) -> None:
        return None


@dataclass
class Verification:
    """Outcome of a scheme's verifier. ``wm_acc`` is 1 - ber for bit-string schemes."""

    wm_acc: float
    verified: bool
    ber: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Cost:
    epochs: float = 0.0
    samples: int = 0
    steps: int = 0
    seconds: float = 0.0


@dataclass
class AttackResult:
    """What an attack hands back to the harness.

    ``model`` is the attacked model (the harness measures nc_acc and the owner's
    verification on it) unless the attack already measured them itself (transfer
    with recovery): then ``nc_acc`` / ``owner`` are set. ``metrics`` holds the attack's
    own numbers (pirate_wm_acc, anomaly_index, ...); ``curve`` per-step rows.
    """

    model: nn.Module | None
    metrics: dict[str, Any] = field(default_factory=dict)
    curve: list[dict[str, Any]] = field(default_factory=list)
    cost: Cost = field(default_factory=Cost)
    nc_acc: float | None = None
    owner: Verification | None = None
