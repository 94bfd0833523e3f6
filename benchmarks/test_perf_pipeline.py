"""Data loading (GTSRB first vs cached), Neural Cleanse per label vs a plain per-label loop, a whole smoke grid."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from perfutil import interleaved, median, paired_ratio, plain_train_epoch, timed
from tasks import get_task

REPEATS = int(os.environ.get("WMBENCH_BENCH_REPEATS", 5))
REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path | None:
    env = os.environ.get("WMBENCH_DATA")
    cand = Path(env) if env else REPO.parent / "shared" / "datasets"
    return cand if cand.is_dir() else None


@pytest.mark.parametrize("split", ["test", "train"])
def test_gtsrb_first_vs_cached_load(benchmark, perf, tmp_path, monkeypatch, split):
    """Decoding the official ppm files once, then reading the decoded cache (tasks/gtsrb.py)."""
    root = _data_root()
    gtsrb = pytest.importorskip("tasks.gtsrb")
    if root is None or not any((root / d).is_dir() for d in ("gtsrb", "GTSRB")):
        pytest.skip("GTSRB not available (set WMBENCH_DATA)")
    monkeypatch.setenv("WMBENCH_CACHE", str(tmp_path / "cache"))
    load = lambda: gtsrb.Traffic(data_dir=str(root), profile="quick").load_split(split)  # noqa: E731

    def run():
        first = timed(load)
        cached = [timed(load) for _ in range(3)]
        return first, cached

    first, cached = benchmark.pedantic(run, rounds=1, iterations=1)
    n = len(load())
    res = {"first_s": first, "cached_s": median(cached), "speedup_cached": first / median(cached), "images": n,
           "first_images_per_s": n / first, "resolution": 48}
    benchmark.extra_info.update(res)
    perf(kind="gtsrb_load", split=split, **res)
    assert res["speedup_cached"] > 2


def _plain_reverse_one_label(model, x, label: int, steps: int, bs: int, cost: float = 1e-3) -> None:
    """The original Neural Cleanse loop for one label (mask/pattern via tanh, Adam lr 0.1, betas (0.5, 0.9))."""
    c, h, w = x.shape[1:]
    m = torch.zeros(1, 1, h, w, requires_grad=True)
    p = torch.zeros(1, c, h, w, requires_grad=True)
    opt = torch.optim.Adam([m, p], lr=0.1, betas=(0.5, 0.9))
    y = torch.full((bs,), label)
    for _ in range(steps):
        for b in range(0, len(x) - bs + 1, bs):
            mask, pattern = torch.tanh(m) / 2 + 0.5, torch.tanh(p) / 2 + 0.5
            xs = (1 - mask) * x[b:b + bs] + mask * pattern
            loss = F.cross_entropy(model(xs), y) + cost * mask.abs().sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def test_neural_cleanse_per_label(benchmark, perf, mini_model):
    """Suite: all labels batched in one optimisation; plain: one label at a time (the original code's structure)."""
    nc = pytest.importorskip("attacks.neural_cleanse")
    task, model = mini_model
    data = task.data("attacker")
    steps, labels = 5, list(range(task.num_classes))
    # success > 1 keeps every label running for exactly `steps` steps (no early stop): equal work for both loops
    cfg = {**nc.PAPER, **nc.PROFILE["smoke"], "steps": steps, "success": 2.0}
    for q in model.parameters():
        q.requires_grad_(False)
    x = data.floats()[: cfg["nb_sample"]]

    def run():
        return interleaved({
            "suite": lambda: nc.reverse_triggers(model, data, labels, cfg, device=torch.device("cpu"), seed=0),
            "plain": lambda: [_plain_reverse_one_label(model, x, t, steps, cfg["batch_size"]) for t in labels],
        }, max(2, REPEATS - 2), warmup=0)

    t = benchmark.pedantic(run, rounds=1, iterations=1)
    k = len(labels)
    res = {"suite_s_per_label": median(t["suite"]) / k, "plain_s_per_label": median(t["plain"]) / k,
           "ratio_suite_vs_plain": paired_ratio(t["plain"], t["suite"]), "labels": k, "steps": steps,
           "nb_sample": cfg["nb_sample"], "batch_size": cfg["batch_size"],
           "paper_s_per_label_estimate": median(t["suite"]) / k / steps / cfg["nb_sample"] * nc.PAPER["nb_sample"] * nc.PAPER["steps"]}
    benchmark.extra_info.update(res)
    perf(kind="neural_cleanse", **res)
    assert res["ratio_suite_vs_plain"] > 0.5


@pytest.fixture(scope="module")
def mini_model():
    from harness.trainer import train

    task = get_task("digit-mini", profile="smoke")
    torch.manual_seed(0)
    model = task.model()
    train(model, task.data("train").take(1024, seed=0), task.recipe.replace(epochs=1), seed=0)
    return task, model.eval()


def test_smoke_grid_wall_time(benchmark, perf, tmp_path):
    """`bench run --task digit-mini --scheme none,null_embedding --attack none --profile smoke` as a library call,
    against a plain loop that trains the same models on the same number of samples."""
    from harness.grid import GridSpec, run_grid

    task = get_task("digit-mini", profile="smoke")
    train_data = task.data("train")
    spec = GridSpec(tasks=["digit-mini"], schemes=["none", "null_embedding"], attacks=["none"], profile="smoke",
                    seeds=[0], out=str(tmp_path / "grid"))
    summary = benchmark.pedantic(lambda: run_grid(spec), rounds=1, iterations=1)
    # plain equivalent: one clean model + one whose batches are 2x larger (null embedding adds 2 x 0.5 x B samples)
    r = task.recipe
    xf, y = train_data.floats(), train_data.y
    torch.manual_seed(0)
    start = time.perf_counter()
    for _ in range(r.epochs):
        plain_train_epoch(task.model(), xf, y, r.batch_size, r.lr, r.momentum, r.grad_clip)
    clean_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(r.epochs):
        plain_train_epoch(task.model(), torch.cat([xf, xf]), torch.cat([y, y]), 2 * r.batch_size, r.lr, r.momentum, r.grad_clip)
    null_s = time.perf_counter() - start
    res = {"grid_wall_s": summary["seconds"], "cells": summary["cells"], "plain_training_s": clean_s + null_s,
           "harness_overhead_ratio": summary["seconds"] / (clean_s + null_s)}
    benchmark.extra_info.update(res)
    perf(kind="smoke_grid", command="bench run --task digit-mini --scheme none,null_embedding --attack none --profile smoke", **res)
    assert summary["ran"] == summary["cells"] == 2
