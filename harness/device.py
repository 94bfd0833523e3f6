"""One code path for CPU and CUDA: pick the device, AMP dtype and thread settings once."""
from __future__ import annotations

import contextlib
import os
import platform
import random
from functools import lru_cache
from pathlib import Path

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


@lru_cache(maxsize=4)
def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; else what ``platform`` knows).

    CPU rows and benchmark records name it: a CPU run is bit-reproducible only on the same kind of
    CPU (the same code and seed trained a different Digit model on an AVX2 machine than on the one
    that made the stored row).
    """
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_label(device: torch.device) -> str:
    """What a row names as its device: the GPU model, or the CPU model, its kernel set and threads (rows from
    different CPUs need not match bit for bit, results/README.md 'Twenty-first session')."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return (f"cpu:{cpu_model()} ({torch.backends.cpu.get_cpu_capability()}) x{torch.get_num_threads()} threads, "
            f"torch {torch.__version__}")
