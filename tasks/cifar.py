"""Object: CIFAR-10 in its official "python version" (pickled batches), VGG-style CNN of Table 13.

The batches are pickles by format; they are read with an unpickler that only admits the
numpy array constructors the official files use, so a hostile file cannot run code.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness.errors import BadInput
from tasks.base import Data, ProfileSpec, Recipe, Task
from tasks.data_root import data_root, find_file
from tasks.gtsrb import keras_init

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CIFAR_HINT = ("Expected <data>/cifar-10-batches-py/ with data_batch_1..data_batch_5 and test_batch; get "
              "cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and untar it into <data>/.")
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),  # py3 protocol-2 bytes
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(x uint8 (N, 3, 32, 32), y int64 (N,)) of one batch; anything malformed is one ``BadInput`` line."""
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise BadInput(f"{path}: not a readable CIFAR-10 python batch ({exc})") from None
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise BadInput(f"{path}: CIFAR-10 batch lacks the 'data'/'labels' keys")
    data, labels = batch["data"], np.asarray(batch["labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise BadInput(f"{path}: 'data' must be uint8 of shape (N, 3072), got "
                       f"{getattr(data, 'dtype', type(data))} {getattr(data, 'shape', '')}")
    if labels.shape != (data.shape[0],) or labels.dtype.kind not in "iu" or (labels.size and not 0 <= labels.min() <= labels.max() <= 9):
        raise BadInput(f"{path}: 'labels' must be {data.shape[0]} integers in 0-9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar_split(root: Path | None, split: str) -> Data:
    parts = [read_cifar_batch(find_file(root, CIFAR_DIR, [name], CIFAR_HINT)) for name in CIFAR_FILES[split]]
    return Data(torch.from_numpy(np.concatenate([p[0] for p in parts])), torch.from_numpy(np.concatenate([p[1] for p in parts])))


def resize_uint8(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize of a uint8 NCHW tensor (only when a non-native resolution is asked)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    y = F.interpolate(x.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
    return y.round_().clamp_(0, 255).to(torch.uint8)


# Table 14: SGD lr 0.05, inverse-time decay 1e-4, batch 128, 500 epochs; momentum 0 as printed and
# the grad-norm clip of 5 for the +-lambda null-embedding inputs (DESIGN.md section 9), as for digit.
_PAPER = Recipe(optimizer="sgd", lr=0.05, momentum=0.0, lr_decay=1e-4, schedule="inverse_time",
                batch_size=128, epochs=500, grad_clip=5.0)
# quick: momentum SGD, 15 epochs (not measured here: CIFAR-10 is not available offline).
_QUICK = Recipe(optimizer="sgd", lr=0.02, momentum=0.9, lr_decay=2e-4, schedule="inverse_time",
                batch_size=128, epochs=15, grad_clip=5.0)
_SMOKE = _QUICK.replace(epochs=2)


class ObjectTask(Task):
    name = "object"
    num_classes = 10
    channels = 3
    default_resolution = (32, 32)
    default_arch = "vgg6_cnn"
    inject_ratio = 0.1
    adi_ratio = 8 / 128
    piracy_epochs = {"default": 10}
    description = "CIFAR-10 objects (official python batches), VGG-style CNN of Li et al. Table 13"
    data_hint = CIFAR_HINT
    profiles = {
        "smoke": ProfileSpec("smoke", _SMOKE, train_size=3000, test_size=1000, attacker_size=1000),
        "quick": ProfileSpec("quick", _QUICK),
        "paper": ProfileSpec("paper", _PAPER),
    }

    def load_split(self, split: str) -> Data:
        d = load_cifar_split(data_root(self.data_dir), split)
        return Data(resize_uint8(d.x, self.resolution), d.y)

    def model(self, arch: str | None = None):
        m = super().model(arch)  # the same BatchNorm-free net as Traffic: Keras init, see keras_init
        return m if (arch or self.default_arch).startswith("timm:") else keras_init(m)

    def mean_std(self) -> tuple[list[float], list[float]]:
        return [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]  # CIFAR-10 training set, per channel
