"""LISA US traffic signs (official ``allAnnotations.csv``): the transfer-learning target of Li et al. 8.4.

Each annotation box is cropped from its frame (corners inclusive, clipped to the image)
and resized (paper: 48x48). The paper uses 17 classes (3,987 train / 340 test, after
Eykholt et al.); we keep the ``num_tags`` most frequent tags (default 17; ties by name),
class ids in descending frequency, and split each class with a seeded permutation,
``test_fraction`` (default 0.08 = 340 / 4,327) to test.
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from harness.errors import BadInput, DataNotFound
from tasks.base import Data, ProfileSpec, Recipe, Task
from tasks.data_root import data_root
from tasks.gtsrb import MEAN_STD, cached_arrays, keras_init, load_image

LISA_HINT = ("Expected <data>/lisa/allAnnotations.csv (or <data>/signDatabasePublicFramesOnly/allAnnotations.csv) "
             "with the annotated frames at the relative paths it lists; get signDatabasePublicFramesOnly.zip from "
             "http://cvrr.ucsd.edu/LISA/lisa-traffic-sign-dataset.html and unzip it into <data>/lisa/.")
_COLS = ("Filename", "Annotation tag", "Upper left corner X", "Upper left corner Y",
         "Lower right corner X", "Lower right corner Y")
_CACHE_VERSION = 1


def find_annotations(root: Path | None) -> Path:
    if root is None:
        raise DataNotFound(f"no data folder set: pass --data-dir or set WMBENCH_DATA. {LISA_HINT}")
    for sub in ("lisa", "signDatabasePublicFramesOnly", "lisa/signDatabasePublicFramesOnly"):
        if (root / sub / "allAnnotations.csv").is_file():
            return root / sub / "allAnnotations.csv"
    raise DataNotFound(f"{root / 'lisa'}: missing allAnnotations.csv. {LISA_HINT}")


def read_annotations(path: Path) -> list[tuple[Path, str, tuple[int, int, int, int]]]:
    """(image path, tag, (x1, y1, x2, y2) inclusive) per annotation; malformed rows are one error."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    if not rows or any(c not in rows[0] for c in _COLS):
        raise BadInput(f"{path}: not a LISA allAnnotations.csv (need columns {';'.join(_COLS)})")
    out = []
    for i, r in enumerate(rows, start=2):
        try:
            box = tuple(int(r[c]) for c in _COLS[2:])
        except (TypeError, ValueError):
            raise BadInput(f"{path}: line {i}: box corners must be integers") from None
        if box[2] < box[0] or box[3] < box[1] or not r["Annotation tag"]:
            raise BadInput(f"{path}: line {i}: empty tag or lower-right corner above/left of upper-left")
        out.append((path.parent / r["Filename"], r["Annotation tag"], box))
    return out


def lisa_classes(annotations: list, num_tags: int | None) -> list[str]:
    """The ``num_tags`` most frequent tags (all when None), most frequent first, ties by name."""
    counts = Counter(tag for _, tag, _ in annotations)
    tags = sorted(counts, key=lambda t: (-counts[t], t))
    if num_tags is not None:
        if len(tags) < num_tags:
            raise BadInput(f"LISA: found {len(tags)} tags, fewer than the {num_tags} asked for")
        tags = tags[:num_tags]
    return tags


def load_lisa(root: Path | None, split: str, size: tuple[int, int], num_tags: int | None = 17,
              test_fraction: float = 0.08, seed: int = 0) -> tuple[Data, list[str]]:
    """The ``split`` of LISA as uint8 NCHW crops and class ids, plus the tag of each class id."""
    csv_path = find_annotations(root)
    ann = read_annotations(csv_path)
    tags = lisa_classes(ann, num_tags)
    ids = {t: i for i, t in enumerate(tags)}
    rows = []
    for label, tag in enumerate(tags):
        mine = [a for a in ann if a[1] == tag]
        perm = np.random.default_rng([seed, label]).permutation(len(mine))
        n_test = round(test_fraction * len(mine))
        rows += [mine[i] for i in sorted(perm[:n_test] if split == "test" else perm[n_test:])]
    st = csv_path.stat()
    fingerprint = {"v": _CACHE_VERSION, "split": split, "size": list(size), "csv": [str(csv_path.resolve()), st.st_size, st.st_mtime_ns],
                   "tags": tags, "frac": test_fraction, "seed": seed}

    def build() -> dict[str, np.ndarray]:
        x = np.empty((len(rows), 3, *size), dtype=np.uint8)
        for i, (img, _, (x1, y1, x2, y2)) in enumerate(rows):
            x[i] = load_image(img, size, (x1, y1, x2 + 1, y2 + 1))
        return {"x": x, "y": np.array([ids[t] for _, t, _ in rows], dtype=np.int64)}

    arrays = cached_arrays(f"lisa-{split}", fingerprint, build)
    return Data(torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"])), tags


# Li et al. appendix (transfer): SGD lr 0.01, decay 0, 200 epochs on the student data.
_PAPER = Recipe(optimizer="sgd", lr=0.01, momentum=0.0, batch_size=128, epochs=200)
_QUICK = Recipe(optimizer="sgd", lr=0.01, momentum=0.9, batch_size=128, epochs=30)  # not measured: no LISA offline
_SMOKE = _QUICK.replace(epochs=2)


class LisaTask(Task):
    name = "lisa"
    num_classes = 17
    channels = 3
    default_resolution = (48, 48)
    default_arch = "vgg6_cnn"
    inject_ratio = 0.1
    adi_ratio = 8 / 128
    piracy_epochs = {"default": 10}
    description = "LISA US traffic signs (official allAnnotations.csv, 17 most frequent tags); transfer target"
    data_hint = LISA_HINT
    profiles = {
        "smoke": ProfileSpec("smoke", _SMOKE, train_size=1000, test_size=300, attacker_size=500, resolution=32),
        "quick": ProfileSpec("quick", _QUICK, attacker_size=2000, resolution=32),
        "paper": ProfileSpec("paper", _PAPER, attacker_size=2000, resolution=48),
    }

    def __init__(self, data_dir: str | None = None, profile: str = "quick", resolution: int | None = None,
                 num_tags: int = 17, test_fraction: float = 0.08):
        super().__init__(data_dir, profile, resolution)
        self.num_classes = num_tags  # instance value; the class keeps the paper's 17
        self.test_fraction = test_fraction
        self.tags: list[str] = []

    def load_split(self, split: str) -> Data:
        d, self.tags = load_lisa(data_root(self.data_dir), split, self.resolution, self.num_classes, self.test_fraction)
        return d

    def model(self, arch: str | None = None):
        m = super().model(arch)  # a student trained from scratch gets the Traffic net's Keras init
        return m if (arch or self.default_arch).startswith("timm:") else keras_init(m)

    def mean_std(self) -> tuple[list[float], list[float]]:
        return list(MEAN_STD[0]), list(MEAN_STD[1])  # a GTSRB teacher's normalisation, so transferred layers match
