"""Where official data sets live: ``--data-dir`` beats ``WMBENCH_DATA``; never downloaded implicitly."""
from __future__ import annotations

import os
from pathlib import Path

from harness.errors import DataNotFound


def data_root(data_dir: str | os.PathLike | None) -> Path | None:
    root = data_dir or os.environ.get("WMBENCH_DATA")
    return Path(root).expanduser() if root else None


def find_file(root: Path | None, subdir: str, names: list[str], hint: str) -> Path:
    """First existing ``root/subdir/name``; otherwise one error naming folder, files and how to get them."""
    if root is None:
        raise DataNotFound(f"no data folder set: pass --data-dir or set WMBENCH_DATA; expected {subdir}/{names[0]}. {hint}")
    for name in names:
        p = root / subdir / name
        if p.is_file():
            return p
    raise DataNotFound(f"{root / subdir}: missing {' or '.join(names)}. {hint}")


def cache_dir() -> Path:
    """Decoded-data cache (never inside the read-only data folder)."""
    p = Path(os.environ.get("WMBENCH_CACHE", Path.home() / ".cache" / "wmbench"))
    p.mkdir(parents=True, exist_ok=True)
    return p
