"""Shared fixtures. Real data come from WMBENCH_DATA (CI: ../shared/datasets); nothing is downloaded."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))
os.environ.setdefault("WMBENCH_PROGRESS", "0")

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path | None:
    env = os.environ.get("WMBENCH_DATA")
    cand = Path(env) if env else REPO.parent / "shared" / "datasets"
    return cand if cand.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = _data_dir()
    if d is None:
        pytest.skip("real data not available (set WMBENCH_DATA)")
    return d


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Decoded-data and model caches go to a per-session temp dir, never ~/.cache."""
    monkeypatch.setenv("WMBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "wmbench-cache"))


@pytest.fixture(scope="session")
def mini_smoke():
    from tasks import get_task

    return get_task("digit-mini", profile="smoke")


@pytest.fixture(scope="session")
def mini_clean(mini_smoke):
    """A clean Digit CNN trained on digit-mini (smoke); shared by tests that need a reasonable model."""
    from harness.trainer import train

    torch.manual_seed(0)
    model = mini_smoke.model()
    train(model, mini_smoke.data("train"), mini_smoke.recipe, seed=0)
    return model
