"""Strict parser for the official MNIST IDX format (gzipped or raw)."""
from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from harness.errors import BadInput

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file; a wrong magic, dtype or a truncated body raises ``BadInput`` naming the file."""
    raw = _read(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise BadInput(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise BadInput(f"{path}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise BadInput(f"{path}: truncated or padded IDX body ({len(raw) - header} bytes, expected {expected} for shape {dims})")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="), copy=True)


def _read(path: Path) -> bytes:
    """Whole file, gunzipped when it ends in .gz; a truncated or corrupt archive is one BadInput line."""
    try:
        return gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    except (EOFError, OSError, zlib.error) as exc:
        raise BadInput(f"{path}: unreadable or truncated file ({exc.__class__.__name__}: {str(exc)[:80]})") from None


def md5_uncompressed(path: Path) -> str:
    raw = _read(path)
    return hashlib.md5(raw).hexdigest()
