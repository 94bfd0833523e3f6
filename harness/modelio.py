"""Model files: safetensors only (never unpickled), written atomically, validated on load."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from harness.errors import BadInput


def save_model(model: nn.Module, path: str | os.PathLike, meta: dict[str, Any] | None = None) -> None:
    """``path`` (.safetensors) plus ``path.json`` with the settings that produced it; both atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        save_file(state, tmp, metadata={"wmbench": json.dumps(meta or {}, sort_keys=True, default=str)[:60000]})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    if meta is not None:
        from harness.leaderboard import atomic_write_text

        atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")


def load_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a safetensors file; anything else (a pickle, a truncated file) is refused with one line."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: model file not found")
    try:
        return load_file(str(path))  # parses a JSON header and raw buffers: never runs code
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") or head == b"PK":
            raise BadInput(f"{path}: is a pickle/torch.save file; wmbench only reads safetensors "
                           "(refusing to unpickle untrusted code)") from None
        raise BadInput(f"{path}: not a valid safetensors file ({str(exc).splitlines()[0][:120]})") from None


def load_into(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load weights into ``model``; wrong architecture, shapes or non-finite weights -> one line."""
    state = load_state(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise BadInput(f"{path}: weights do not match the architecture (missing {missing[:3]}, unexpected {unexpected[:3]}); "
                       "pass the --task/--arch the model was trained with")
    for k, v in state.items():
        if v.shape != expected[k].shape:
            raise BadInput(f"{path}: tensor {k!r} has shape {tuple(v.shape)}, the architecture expects {tuple(expected[k].shape)}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise BadInput(f"{path}: tensor {k!r} contains NaN or inf")
    model.load_state_dict(state, strict=True)
    return model
