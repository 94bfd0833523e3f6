"""One code path for CPU and CUDA: pick the device, AMP dtype and thread settings once."""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch


def pick_device(name: str | None = None) -> torch.device:
    name = name or os.environ.get("WMBENCH_DEVICE")
    if name:
        try:
            device = torch.device(name)
        except RuntimeError:
            from harness.errors import BadInput

            raise BadInput(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            from harness.errors import BadInput

            raise BadInput(f"device {name!r} asked for, but CUDA is not available here; use --device cpu")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: torch.device):
    """bf16 autocast on CUDA (no grad scaler needed); a no-op on CPU so CPU numbers stay exact."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
