"""Model cache keyed by everything that shaped a model; a changed setting never reuses a stale model."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

from torch import nn

from harness.errors import BadInput
from harness.modelio import load_into, save_model

TRAINER_VERSION = "1"  # bump when harness/trainer.py changes what a model becomes


def cache_key(identity: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the fully resolved identity (seed, epochs, ratios included)."""
    blob = json.dumps({**identity, "trainer_version": TRAINER_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class ModelCache:
    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.safetensors"

    def partial(self, key: str) -> Path:
        """Where an unfinished training of ``key`` keeps its checkpoint (harness/resume.py)."""
        return self.folder / f"{key}.partial.pt"

    def attack_stem(self, identity: dict[str, Any]) -> Path:
        """The checkpoint stem of one attack cell (``AttackContext.checkpoint`` appends the part), keyed
        by everything that shapes its trainings: the cell, its owner model, the attack's version and params."""
        return self.folder / f"{cache_key(identity)}.attack"

    def get_or_train(self, identity: dict[str, Any], build: Callable[[], nn.Module],
                     train: Callable[[nn.Module, Path], dict[str, Any]]) -> tuple[nn.Module, dict[str, Any], bool]:
        """Return (model, meta, was_cached). Training runs only on a miss, as ``train(model,
        checkpoint_path)`` so an interrupted training resumes; the model file appears atomically."""
        key = cache_key(identity)
        path = self.path(key)
        model = build()
        if path.is_file() and path.with_suffix(".json").is_file():
            try:
                load_into(model, path)
                meta = json.loads(path.with_suffix(".json").read_text())
                return model, meta, True
            except (BadInput, json.JSONDecodeError):
                path.unlink(missing_ok=True)  # a corrupt entry is retrained, never trusted
                model = build()
        info = train(model, self.partial(key))
        meta = {"key": key, "identity": identity, **info}
        save_model(model, path, meta)
        return model, meta, False
