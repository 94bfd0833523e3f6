"""Hand-written reference loops and interleaved timing for the benchmarks.

Every suite measurement is paired with a minimal plain-PyTorch loop doing the same
work in the same process, and the two are timed alternately (ABAB..., order flipped
every repeat) so that load from other processes on a shared machine hits both alike.
Ratios are medians of the per-repeat ratios.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.device import autocast
from harness.evaluate import eval_batch_size, eval_layout
from harness.types import ExtraBatch, TrainHooks


def plain_train_epoch(model: nn.Module, x: Tensor, y: Tensor, batch_size: int, lr: float, momentum: float,
                      clip: float | None = None, seed: int = 0) -> None:
    """The loop anyone would write: float tensors in memory, shuffled index slices, SGD."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    model.train()
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    for b in range(0, len(y), batch_size):
        idx = perm[b:b + batch_size]
        with autocast(x.device):  # bf16 on CUDA, as the suite's trainer: compare like with like
            loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()


@torch.no_grad()
def plain_accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int | None = None) -> float:
    """Hand-written eval loop with the suite's batch size and layout, so the ratio measures overhead only."""
    model.eval()
    correct = 0
    batch_size = batch_size or eval_batch_size(x.device)
    with torch.no_grad(), autocast(x.device):  # the same bf16 autocast the suite uses on CUDA
        for i in range(0, len(y), batch_size):
            xb = eval_layout(x[i:i + batch_size], x.device)
            correct += int((model(xb).argmax(1) == y[i:i + batch_size]).sum())
    return correct / len(y)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn: Callable[[], object]) -> float:
    _sync()
    start = time.perf_counter()
    fn()
    _sync()
    return time.perf_counter() - start


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each function, run alternately; the order rotates every repeat."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        if r % 2:
            order = order[::-1]
        for n in order:
            out[n].append(timed(fns[n]))
    return out


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over repeats of numerator[i] / denominator[i] (e.g. plain seconds / suite seconds = speed ratio)."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def median(xs: list[float]) -> float:
    return statistics.median(xs)


class CountingHooks(TrainHooks):
    """Delegates to a scheme's hook and counts the extra samples it adds (the expected cost of embedding)."""

    def __init__(self, inner: TrainHooks):
        self.inner, self.extra, self.base = inner, 0, 0

    def setup(self, model):
        return self.inner.setup(model)

    def extra_batch(self, x, y, gen) -> list[ExtraBatch]:
        extras = self.inner.extra_batch(x, y, gen)
        self.base += len(y)
        self.extra += sum(len(e.y) for e in extras)
        return extras

    def extra_loss(self, model, x, y, logits):
        return self.inner.extra_loss(model, x, y, logits)

    def on_epoch_end(self, model, epoch):
        return self.inner.on_epoch_end(model, epoch)

    def teardown(self, model):
        return self.inner.teardown(model)
