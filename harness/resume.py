"""Mid-training checkpoints, so a long owner training (the `paper` profile's 300 Digit epochs
take hours on a CPU) resumes at its last saved epoch instead of starting over.

A checkpoint holds everything the next epoch depends on: model and optimiser state, the
parameters hooks added (DeepSigns' centres), the epoch-permutation and hook generators, the
global RNG (dropout), and the log so far. Resuming is bit-identical to not stopping on the
CPU (tested). A checkpoint whose fingerprint (recipe, data size, seed, the shapes of everything
optimised) differs, or that cannot be read, is discarded: the training starts over. A checkpoint
saved on another device type (a GPU loan's partial owner finished on the CPU) restores everything
but its CUDA generator, whose Philox state a CPU generator cannot take: that stream is reseeded from
the saved state, so the resumed run is deterministic but not the one the GPU would have run.

A checkpoint also carries the training's history: one segment per process that trained part of
it (``{"device": ..., "epochs": [first, last]}``). A resumed training's log and row name every
segment, so a model whose first 218 epochs ran on an H200 and the rest on a CPU says so, where the
row's ``device`` alone names only the last one.
"""
from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from harness.errors import BadInput

EVERY_S = 300.0  # default seconds between saves; WMBENCH_CHECKPOINT_EVERY overrides
# Segments of the resumed trainings finished in this process, by checkpoint path; the harness takes
# an attack cell's entries for its row (take_resumed).
RESUMED: dict[str, list[dict[str, Any]]] = {}


def env_every_s() -> float:
    """Seconds between saves from ``WMBENCH_CHECKPOINT_EVERY`` (read when a training starts)."""
    raw = os.environ.get("WMBENCH_CHECKPOINT_EVERY")
    if raw is None:
        return EVERY_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise BadInput(f"WMBENCH_CHECKPOINT_EVERY={raw!r} is not a number of seconds >= 0; unset it or set e.g. 300")
    return value


def fingerprint(recipe: Any, n: int, seed: int, trainable: list[torch.Tensor]) -> dict[str, Any]:
    return {"recipe": recipe.as_dict(), "n": n, "seed": seed, "shapes": [list(p.shape) for p in trainable]}


class Checkpointer:
    """Saves at most every ``every_s`` seconds (0: every epoch); the file appears atomically."""

    def __init__(self, path: str | os.PathLike | None, fp: dict[str, Any], every_s: float | None = None,
                 device: str = ""):
        self.path = Path(path) if path is not None else None
        self.fp = fp
        self.every_s = every_s if every_s is not None else env_every_s() if path is not None else EVERY_S
        self.last = time.monotonic()
        self.device = device  # this process's device label, for the history
        self.history: list[dict[str, Any]] = []  # earlier processes' segments (empty: not resumed)
        self.first_epoch = 0

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none (or it belongs to another training)."""
        if self.path is None or not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # a torn or foreign file: start over rather than trust it
            self.path.unlink(missing_ok=True)
            return None
        if not isinstance(state, dict) or state.get("fingerprint") != self.fp:
            self.path.unlink(missing_ok=True)
            return None
        # files from before the history existed: one segment of unknown device
        self.history = list(state.get("history") or [{"device": "unknown", "epochs": [0, int(state["epoch"])]}])
        self.first_epoch = int(state["epoch"])
        return state

    def segments(self, epoch_done: int) -> list[dict[str, Any]]:
        """The history with this process's segment (from the epoch it started at to ``epoch_done``)."""
        return [*self.history, {"device": self.device, "epochs": [self.first_epoch, epoch_done]}]

    def maybe_save(self, epoch_done: int, epochs: int, state: Callable[[], dict[str, Any]]) -> None:
        """``state`` is called only when a save is due (copying a model every epoch is not free)."""
        if self.path is None or epoch_done >= epochs or time.monotonic() - self.last < self.every_s:
            return
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        torch.save({**state(), "epoch": epoch_done, "fingerprint": self.fp, "history": self.segments(epoch_done)}, tmp)
        os.replace(tmp, self.path)
        self.last = time.monotonic()

    def done(self, epochs: int) -> list[dict[str, Any]]:
        """Removes the file; returns the segments of a resumed training (empty if it ran in one go)."""
        if self.path is None:
            return []
        self.path.unlink(missing_ok=True)
        if not self.history:
            return []
        RESUMED[str(self.path)] = self.segments(epochs)
        return RESUMED[str(self.path)]


def take_resumed(stem: Path | None) -> dict[str, list[dict[str, Any]]]:
    """The segments of every resumed training whose checkpoint began with ``stem`` (an attack cell's
    ``AttackContext.checkpoints``), by the file's part name (``""``, ``"key1"``...); removes them."""
    if stem is None:
        return {}
    out = {}
    for path in [p for p in RESUMED if Path(p).parent == stem.parent and Path(p).name.startswith(stem.name + ".")]:
        part = Path(path).name[len(stem.name) + 1:].removesuffix("partial.pt").rstrip(".")
        out[part] = RESUMED.pop(path)
    return out


def rng_state(gen: torch.Generator, hook_gen: torch.Generator) -> dict[str, Any]:
    state = {"gen": gen.get_state(), "hook_gen": hook_gen.get_state(), "cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def global_rng() -> dict[str, str]:
    """The global generators' states (dropout draws from them), as text for a kept key's JSON record."""
    states = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()
    return {name: base64.b64encode(t.numpy().tobytes()).decode() for name, t in states.items()}


def set_global_rng(states: dict[str, str]) -> None:
    """Restore what ``global_rng`` wrote (a kept piracy key read back: the next key's stream as it was)."""
    for name, text in states.items():
        t = torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)
        if name == "cpu":
            torch.set_rng_state(t)
        elif torch.cuda.is_available():  # a key kept on a GPU and read back on a CPU has no CUDA stream to set
            torch.cuda.set_rng_state(t)


def set_generator_state(gen: torch.Generator, saved: torch.Tensor) -> bool:
    """Restore ``gen``; a state from another device type (a CUDA generator holds 16 bytes, a CPU
    one 5,056) cannot be set, so ``gen`` is seeded from a hash of it instead. False then."""
    if saved.numel() == gen.get_state().numel():
        gen.set_state(saved)
        return True
    gen.manual_seed(int.from_bytes(hashlib.sha256(saved.cpu().numpy().tobytes()).digest()[:8], "little"))
    return False


def restore_rng(state: dict[str, Any], gen: torch.Generator, hook_gen: torch.Generator) -> bool:
    """False when a generator came from another device type and was reseeded (see the module doc)."""
    same = set_generator_state(gen, state["gen"])
    same = set_generator_state(hook_gen, state["hook_gen"]) and same
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    return same


def restore_extras(extras: list[nn.Parameter], saved: list[torch.Tensor]) -> None:
    """Hook parameters (their shapes are in the fingerprint, so they match)."""
    with torch.no_grad():
        for p, s in zip(extras, saved):
            p.copy_(s.to(p.device))
