"""The ``Attack`` base and the context the harness hands every attack."""
from __future__ import annotations

import glob
import json
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

    def _part_file(self, part: str, suffix: str) -> Path | None:
        return None if self.checkpoints is None else self.checkpoints.with_name(f"{self.checkpoints.name}.{part}.{suffix}")

    def save_part(self, part: str, record: dict[str, Any], model: nn.Module | None = None) -> dict[str, Any]:
        """Keep what a finished training of the cell measured (and its model), so a rerun after a kill
        skips it instead of training it again (a pirate key of the `paper` `data_all` setting takes 18
        minutes on a CPU). Returns ``record`` as a rerun reads it back (a JSON round trip), so a cell
        measures the same whether its parts ran in one process or in several."""
        from harness.leaderboard import atomic_write_text
        from harness.modelio import save_model

        text = _json_text(record)
        path = self._part_file(part, "done.json")
        if path is not None:
            if model is not None:
                save_model(model, self._part_file(part, "done-model.safetensors"))
            atomic_write_text(path, text)  # last: its presence marks the part finished
        return json.loads(text)

    def load_part(self, part: str, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
        """A part ``save_part`` kept, if its ``fingerprint`` (what shaped that training) matches; else None."""
        path = self._part_file(part, "done.json")
        if path is None or not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):  # torn or foreign: train the part again
            return None
        want = json.loads(_json_text(fingerprint))  # compared as it was written
        return record if isinstance(record, dict) and record.get("fingerprint") == want else None

    def load_part_model(self, part: str, model: nn.Module) -> nn.Module:
        from harness.modelio import load_state

        model.load_state_dict(load_state(self._part_file(part, "done-model.safetensors")))
        return model

    def discard_parts(self) -> None:
        """Remove the kept parts once the cell is measured (the harness stores it whole)."""
        if self.checkpoints is not None:
            for p in glob.glob(glob.escape(str(self.checkpoints)) + ".*.done*"):
                Path(p).unlink(missing_ok=True)

    def verify_owner(self, model: nn.Module) -> Verification:
        return self.scheme.verify(model, self.owner_key, self.task, self.test)


def _json_text(obj: Any) -> str:
    """How a kept part is written (numpy / torch scalars as numbers): ``save_part`` and ``load_part`` agree."""
    from harness.store import json_default

    return json.dumps(obj, sort_keys=True, default=json_default)


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
