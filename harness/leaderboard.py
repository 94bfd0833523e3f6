"""Leaderboard: one row per task x arch x profile x scheme x attack x setting, mean and std over seeds."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from harness.store import METRIC_COLUMNS

GROUP = ["task", "arch", "profile", "scheme", "attack", "setting"]
LEADERBOARD_COLUMNS = GROUP + ["seeds"] + METRIC_COLUMNS + [f"{c}_std" for c in METRIC_COLUMNS]


def parse_metrics(text: Any) -> dict[str, Any]:
    """A stored JSON column (``metrics``, ``recipe``) as a dict; empty when missing or not a JSON object."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def leaderboard(results: pd.DataFrame) -> pd.DataFrame:
    """Aggregate per-seed rows. ``verified_*`` / ``pirate_verified`` means are the share of seeds verified."""
    if results.empty:
        return pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    df = results.copy()
    for c in METRIC_COLUMNS:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    g = df.groupby(GROUP, dropna=False, sort=True)
    mean = g[METRIC_COLUMNS].mean()
    std = g[METRIC_COLUMNS].std(ddof=0).add_suffix("_std")
    seeds = g["seed"].nunique().rename("seeds")
    out = pd.concat([seeds, mean, std], axis=1).reset_index()
    return out[LEADERBOARD_COLUMNS]


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write to a temporary name in the same folder, fsync, rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; results are meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_leaderboard(results: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    board = leaderboard(results)
    atomic_write_text(path, board.to_csv(index=False, float_format="%.6g"))
    return board
