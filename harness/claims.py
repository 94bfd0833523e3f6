"""Non-trivial ownership: false-claim rates with many random keys, and calibrated thresholds.

For each scheme, K random keys (keygen with seeds no owner uses) are verified on the
watermark-free model and on the scheme's watermarked model (whose own key is not among
them). A verified random key is a false claim. The 95th percentile of the random keys'
``wm_acc`` on the watermark-free model is the calibrated threshold (WRT's approach,
DESIGN.md section 8); the owner's claim is then re-read against it.

A scheme whose verification has parts (null embedding's ``null_acc`` and ``true_acc``) also gets
``part_passes_*``: how many random keys pass each part alone at the scheme's threshold, which
shows which part carries the evidence against a false claim.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from harness.trainer import progress_enabled
from harness.types import Key
from tasks.base import Data, Task


def claim_seed(index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"wmbench-claim|{index}".encode()).digest()[:4], "big")


def false_claims(scheme: Any, task: Task, clean: nn.Module, marked: nn.Module, owner_key: Key, test: Data,
                 keys: int = 1000) -> dict[str, Any]:
    stats_clean, stats_marked, fc_clean, fc_marked = [], [], 0, 0
    parts_clean: dict[str, int] = {}
    parts_marked: dict[str, int] = {}
    for i in tqdm(range(keys), desc=f"claims/{scheme.name}", leave=False, disable=not progress_enabled()):
        key = scheme.keygen(task, seed=claim_seed(i))
        if key.fingerprint() == owner_key.fingerprint():
            continue
        v_clean = scheme.verify(clean, key, task, test)
        v_marked = scheme.verify(marked, key, task, test)
        fc_clean += bool(v_clean.verified)
        fc_marked += bool(v_marked.verified)
        stats_clean.append(v_clean.wm_acc)
        stats_marked.append(v_marked.wm_acc)
        _count_parts(v_clean, parts_clean)
        _count_parts(v_marked, parts_marked)
    owner = scheme.verify(marked, owner_key, task, test)
    arr = np.asarray([s for s in stats_clean if s is not None and not math.isnan(s)], dtype=float)
    threshold_95 = float(np.percentile(arr, 95)) if arr.size else math.nan
    return {
        "keys": len(stats_clean), "false_claims_clean": fc_clean, "false_claims_marked": fc_marked,
        "random_wm_acc_clean_mean": float(arr.mean()) if arr.size else math.nan,
        "random_wm_acc_marked_mean": float(np.nanmean(stats_marked)) if stats_marked else math.nan,
        "threshold_95": threshold_95, "owner_wm_acc": owner.wm_acc, "owner_verified": bool(owner.verified),
        "owner_above_calibrated": bool(owner.wm_acc > threshold_95) if arr.size else None,
        "owner_p_value": owner.p_value, "part_passes_clean": parts_clean, "part_passes_marked": parts_marked,
    }


def _count_parts(v: Any, counts: dict[str, int]) -> None:
    """Add one to each ``*_acc`` detail that alone meets the threshold (absent parts stay absent)."""
    if v.threshold is None:
        return
    for name, value in (v.details or {}).items():
        if name.endswith("_acc") and isinstance(value, float) and not math.isnan(value):
            counts[name] = counts.get(name, 0) + int(value >= v.threshold)
