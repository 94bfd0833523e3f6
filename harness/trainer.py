"""The one training loop. Schemes and attacks plug in through ``TrainHooks``; nobody else loops.

Hot-loop rules: data live as tensors on the training device, batches are index
slices, the loss is accumulated on the device (no ``.item()`` per step), bf16
autocast on CUDA, no DataLoader workers for in-memory sets.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from harness.device import autocast, device_label, pick_device
from harness.resume import Checkpointer, fingerprint, restore_extras, restore_rng, rng_state
from harness.types import TrainHooks
from tasks.base import Data, Recipe

Callback = Callable[[int, int, nn.Module], "dict | None"]


@dataclass
class TrainLog:
    epochs: int = 0
    steps: int = 0
    samples: int = 0  # original training samples seen (extras not counted)
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    curve: list[dict] = field(default_factory=list)  # rows from callbacks / hooks
    final_lr: float = 0.0
    max_grad_norm: float = 0.0  # largest pre-clip global gradient norm seen (checks clipping)
    resumed: list[dict] = field(default_factory=list)  # a resumed training's segments (harness/resume.py); else empty


def progress_mode() -> str:
    """``bar`` on a terminal, ``lines`` when stderr goes to a log (background runs), ``off``.

    ``WMBENCH_PROGRESS=0`` turns progress off, any other value forces bars."""
    flag = os.environ.get("WMBENCH_PROGRESS")
    if flag is not None:
        return "off" if flag == "0" else "bar"
    return "bar" if sys.stderr.isatty() else "lines"


def progress_enabled() -> bool:
    return progress_mode() == "bar"


def progress_line(text: str) -> None:
    """One plain progress line for logs (``lines`` mode only): tqdm bars are unreadable in a file."""
    if progress_mode() == "lines":
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def make_optimizer(params: Iterable[nn.Parameter], recipe: Recipe) -> torch.optim.Optimizer:
    params = list(params)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}; known: sgd, adam")


def train(
    model: nn.Module,
    data: Data,
    recipe: Recipe,
    *,
    hooks: Sequence[TrainHooks] = (),
    seed: int = 0,
    device: torch.device | None = None,
    params: Iterable[nn.Parameter] | None = None,
    callback: Callback | None = None,
    eval_every: int | None = None,
    desc: str = "train",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every_s: float | None = None,
) -> TrainLog:
    """Train ``model`` in place on ``data`` with ``recipe``; returns what it cost and the logged curve.

    ``params`` restricts what is optimised (fine-tune last layer, transfer modes);
    ``callback(epoch, step, model)`` runs after each epoch and every ``eval_every``
    steps, and its dict becomes a curve row. With ``checkpoint`` (a file path) the state is
    saved every ``checkpoint_every_s`` seconds at an epoch end and a rerun resumes from it
    (harness/resume.py); the file is removed when training completes.
    """
    device = device or pick_device()
    model.to(device)
    if data.device != device:
        data = data.to(device)
    if data.x.dtype == torch.uint8 and data.x.numel() * 4 <= 2**31:
        data = Data(data.floats(), data.y)  # convert once per call, not once per batch (bit-identical)
    gen = torch.Generator().manual_seed(seed)
    hook_gen = torch.Generator(device=device).manual_seed(seed + 1) if device.type == "cuda" else torch.Generator().manual_seed(seed + 1)
    trainable = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    extras = [p for h in hooks for p in h.setup(model)]
    trainable += extras
    opt = make_optimizer(trainable, recipe)
    n, bs = len(data), recipe.batch_size
    steps_per_epoch = math.ceil(n / bs)
    total = recipe.epochs * steps_per_epoch
    log = TrainLog()
    clip = recipe.grad_clip
    max_norm = torch.zeros((), device=device)
    start = time.perf_counter()
    step, first_epoch = 0, 0
    saver = Checkpointer(checkpoint, fingerprint(recipe, n, seed, trainable), checkpoint_every_s,
                         device=device_label(device) if checkpoint is not None else "")
    saved = saver.load()
    if saved is not None:
        model.load_state_dict(saved["model"])
        restore_extras(extras, saved["extras"])
        opt.load_state_dict(saved["opt"])
        same_device = restore_rng(saved["rng"], gen, hook_gen)
        first_epoch, step = saved["epoch"], saved["step"]
        log.losses, log.curve, log.samples = saved["losses"], saved["curve"], saved["samples"]
        max_norm = torch.tensor(saved["max_norm"], device=device)
        start -= saved["seconds"]
        progress_line(f"{desc}: resumed at epoch {first_epoch}/{recipe.epochs} from {checkpoint}"
                      + ("" if same_device else " (saved on another device type: its generator reseeded from the saved state)"))
    model.train()
    bar = tqdm(range(first_epoch, recipe.epochs), desc=desc, unit="ep", leave=False, disable=not progress_enabled())
    for epoch in bar:
        perm = torch.randperm(n, generator=gen).to(device)
        loss_sum = torch.zeros((), device=device)
        for b in range(steps_per_epoch):
            lr = recipe.lr_at(step, total)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = perm[b * bs:(b + 1) * bs]
            x, y = data.batch(idx)
            xs, ys, ws = [x], [y], []
            for h in hooks:
                for extra in h.extra_batch(x, y, hook_gen):
                    xs.append(extra.x)
                    ys.append(extra.y)
                    ws.append((len(extra.y), extra.weight))
            x_all = torch.cat(xs) if len(xs) > 1 else x
            y_all = torch.cat(ys) if len(ys) > 1 else y
            with autocast(device):
                logits = model(x_all)
                if any(w != 1.0 for _, w in ws):
                    weights = torch.cat([torch.ones(len(y), device=device)] +
                                        [torch.full((k,), w, device=device) for k, w in ws])
                    ce = F.cross_entropy(logits.float(), y_all, reduction="none")
                    loss = (ce * weights).sum() / weights.sum()
                else:
                    loss = F.cross_entropy(logits.float(), y_all)
                for h in hooks:
                    extra_loss = h.extra_loss(model, x_all, y_all, logits)
                    if extra_loss is not None:
                        loss = loss + extra_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                norm = torch.nn.utils.clip_grad_norm_(trainable, clip)
                max_norm = torch.maximum(max_norm, norm.detach())
            opt.step()
            loss_sum += loss.detach()
            step += 1
            log.samples += len(y)
            if callback is not None and eval_every and step % eval_every == 0:
                _log_row(log, callback(epoch, step, model), epoch, step, model)
        log.losses.append(float(loss_sum) / steps_per_epoch)
        for h in hooks:
            row = h.on_epoch_end(model, epoch)
            if row:
                log.curve.append({"epoch": epoch + 1, "step": step, **row})
        if callback is not None and not eval_every:
            _log_row(log, callback(epoch, step, model), epoch, step, model)
        bar.set_postfix(loss=f"{log.losses[-1]:.4f}")
        progress_line(f"{desc}: epoch {epoch + 1}/{recipe.epochs}, loss {log.losses[-1]:.4f}, "
                      f"{time.perf_counter() - start:.0f} s")
        saver.maybe_save(epoch + 1, recipe.epochs, lambda: {
            "model": model.state_dict(), "extras": [p.detach().cpu() for p in extras], "opt": opt.state_dict(),
            "rng": rng_state(gen, hook_gen), "step": step, "losses": log.losses, "curve": log.curve,
            "samples": log.samples, "max_norm": float(max_norm), "seconds": time.perf_counter() - start})
    log.resumed = saver.done(recipe.epochs)
    for h in hooks:
        h.teardown(model)
    model.eval()
    log.epochs, log.steps = recipe.epochs, step
    log.seconds = time.perf_counter() - start
    log.final_lr = recipe.lr_at(step, total)
    log.max_grad_norm = float(max_norm)
    return log


def _log_row(log: TrainLog, row: dict | None, epoch: int, step: int, model: nn.Module) -> None:
    if row:
        log.curve.append({"epoch": epoch + 1, "step": step, **row})
    model.train()
