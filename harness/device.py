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
        return torch.device(name)
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
