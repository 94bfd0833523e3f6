"""Face: YouTube Faces aligned frames (``aligned_images_DB/<person>/<video>/aligned_detect_*.jpg``), DeepID.

The paper keeps the people with at least 100 images (1,283 identities, 375,645 train /
64,150 test, i.e. 14.6% test); we split each kept identity's frames with a seeded
permutation, ``test_fraction`` (default 0.146) to test. The class count depends on the
data found, so ``num_classes`` is the paper's 1,283 on the class and the scanned count
on an instance. Decoded tensors are cached like GTSRB's.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from harness.errors import BadInput, DataNotFound
from tasks.base import Data, ProfileSpec, Recipe, Task
from tasks.data_root import data_root
from tasks.gtsrb import cached_arrays, load_image

YTF_HINT = ("Expected <data>/YouTubeFaces/aligned_images_DB/<person>/<video_id>/aligned_detect_<n>.<frame>.jpg; "
            "get YouTubeFaces.tar.gz from https://www.cs.tau.ac.il/~wolf/ytfaces/ and extract it into <data>/.")
PAPER_CLASSES = 1283
_CACHE_VERSION = 1


def scan_ytf(root: Path | None, min_images: int = 100) -> dict[str, list[Path]]:
    """People with >= ``min_images`` aligned frames -> their frames (sorted; identities sorted by name)."""
    if root is None:
        raise DataNotFound(f"no data folder set: pass --data-dir or set WMBENCH_DATA. {YTF_HINT}")
    base = root / "YouTubeFaces" / "aligned_images_DB"
    if not base.is_dir():
        raise DataNotFound(f"{base}: folder not found. {YTF_HINT}")
    people: dict[str, list[Path]] = {}
    for person in sorted(e.name for e in os.scandir(base) if e.is_dir()):
        frames = sorted(Path(v.path) / f.name
                        for v in os.scandir(base / person) if v.is_dir()
                        for f in os.scandir(v.path) if f.name.startswith("aligned_detect_") and f.name.endswith(".jpg"))
        if len(frames) >= min_images:
            people[person] = frames
    if not people:
        raise DataNotFound(f"{base}: no person has >= {min_images} aligned_detect_*.jpg frames. {YTF_HINT}")
    return people


def split_frames(people: dict[str, list[Path]], split: str, test_fraction: float, seed: int) -> list[tuple[Path, int]]:
    """(frame, class id) rows of ``split``: a seeded per-identity permutation, the first share to test."""
    rows = []
    for label, frames in enumerate(people.values()):
        perm = np.random.default_rng([seed, label]).permutation(len(frames))
        n_test = max(1, round(test_fraction * len(frames)))
        pick = perm[:n_test] if split == "test" else perm[n_test:]
        rows += [(frames[i], label) for i in sorted(pick)]
    return rows


class _ScannedCount:
    """Class access gives the paper's count; instance access scans the data folder once.

    Without data an instance also reports the paper's count, so ``model()`` still builds;
    ``load_split`` then raises the one-line ``DataNotFound``.
    """

    def __get__(self, obj, owner) -> int:
        if obj is None:
            return PAPER_CLASSES
        try:
            return len(obj.people())
        except DataNotFound:
            return PAPER_CLASSES


# Table 14: Adam lr 0.001, batch 128, 10 epochs; "decay 1e-7" is Keras inverse-time lr decay, weight
# decay 0. The grad-norm clip of 5 (as on every task) tames the +-lambda null-embedding inputs.
_PAPER = Recipe(optimizer="adam", lr=0.001, lr_decay=1e-7, schedule="inverse_time", batch_size=128,
                epochs=10, grad_clip=5.0)
_QUICK = _PAPER.replace(epochs=5)  # not measured here: YouTube Faces is not available offline
_SMOKE = _PAPER.replace(epochs=2)


class Face(Task):
    name = "face"
    num_classes = _ScannedCount()
    channels = 3
    default_resolution = (55, 47)
    default_arch = "deepid"
    inject_ratio = 0.5
    adi_ratio = 8 / 128
    piracy_epochs = {"default": 1}
    description = "YouTube Faces aligned frames (people with >= 100 images), DeepID of Li et al. Table 11"
    data_hint = YTF_HINT
    profiles = {
        "smoke": ProfileSpec("smoke", _SMOKE, train_size=3000, test_size=1000, attacker_size=1000),
        "quick": ProfileSpec("quick", _QUICK, train_size=100_000, test_size=10_000),
        "paper": ProfileSpec("paper", _PAPER),
    }

    def __init__(self, data_dir: str | None = None, profile: str = "quick", resolution: int | None = None,
                 min_images: int = 100, test_fraction: float = 0.146, split_seed: int = 0):
        super().__init__(data_dir, profile, resolution)
        if min_images < 2 or not 0 < test_fraction < 1:
            raise BadInput(f"face: need min_images >= 2 and 0 < test_fraction < 1 (got {min_images}, {test_fraction})")
        self.min_images, self.test_fraction, self.split_seed = min_images, test_fraction, split_seed
        self._people: dict[str, list[Path]] | None = None

    def people(self) -> dict[str, list[Path]]:
        if self._people is None:
            self._people = scan_ytf(data_root(self.data_dir), self.min_images)
        return self._people

    def load_split(self, split: str) -> Data:
        rows = split_frames(self.people(), split, self.test_fraction, self.split_seed)
        fingerprint = {"v": _CACHE_VERSION, "split": split, "size": list(self.resolution),
                       "root": str(data_root(self.data_dir).resolve()), "min": self.min_images,
                       "frac": self.test_fraction, "seed": self.split_seed,
                       "people": [[p, len(f)] for p, f in self.people().items()]}

        def build() -> dict[str, np.ndarray]:
            x = np.empty((len(rows), 3, *self.resolution), dtype=np.uint8)
            for i, (path, _) in enumerate(rows):
                x[i] = load_image(path, self.resolution)
            return {"x": x, "y": np.array([r[1] for r in rows], dtype=np.int64)}

        arrays = cached_arrays(f"ytf-{split}", fingerprint, build)
        return Data(torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"]))

    def describe(self) -> dict:
        return {**super().describe(), "num_classes": self.num_classes, "min_images": self.min_images,
                "test_fraction": self.test_fraction}
