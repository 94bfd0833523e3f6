"""Cut ``digit-mini`` from the official MNIST files: a stratified, seeded subset, checksummed.

Usage: python scripts/make_digit_mini.py --mnist ../shared/datasets/mnist
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path

import numpy as np

from tasks.digit import DIGIT_MINI_META, DIGIT_MINI_PATH, MNIST_FILES, MNIST_MD5
from tasks.idx import md5_uncompressed, read_idx


def stratified(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    idx = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
    return np.sort(np.concatenate(idx))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnist", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    out, sources = {}, {}
    for split, per_class in (("train", 1000), ("test", 200)):
        img, lbl = (args.mnist / f"{n}.gz" for n in MNIST_FILES[split])
        for p in (img, lbl):
            md5 = md5_uncompressed(p)
            assert md5 == MNIST_MD5[p.name[:-3]], f"{p}: md5 {md5} is not the official one"
            sources[p.name] = md5
        x, y = read_idx(img), read_idx(lbl)
        keep = stratified(y, per_class, rng)
        out[f"x_{split}"], out[f"y_{split}"] = x[keep], y[keep].astype(np.uint8)
        out[f"idx_{split}"] = keep.astype(np.int32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **out)
    DIGIT_MINI_PATH.parent.mkdir(parents=True, exist_ok=True)
    DIGIT_MINI_PATH.write_bytes(buf.getvalue())
    meta = {"sha256": hashlib.sha256(buf.getvalue()).hexdigest(), "seed": args.seed,
            "train": 10000, "test": 2000, "per_class": {"train": 1000, "test": 200},
            "source_md5_uncompressed": sources,
            "note": "stratified subset of the official MNIST files (idx_* arrays give the source rows)"}
    DIGIT_MINI_META.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {DIGIT_MINI_PATH} ({len(buf.getvalue())} bytes) sha256={meta['sha256']}")


if __name__ == "__main__":
    main()
