"""``pruning``: global magnitude pruning (Han et al. 2015, as Li et al. section 8.1 / Fig. 6 run it).

Every rate starts from the unpruned victim: the ``rate`` share of all conv and linear
weights (biases and normalisation layers untouched) with the smallest |w|, ranked
globally across layers, is set to zero. Rates 0.0-0.9 in steps of 0.1 plus 0.65, the
rate Uchida et al. claim their watermark survives.

``fine_pruning`` then fine-tunes each pruned model for 1 epoch on the attacker split
with the owner's recipe at its last learning rate, keeping the masks fixed: a gradient
hook zeroes the gradient of every pruned weight, so with the weight at 0 neither weight
decay nor momentum (SGD) nor Adam's moments can move it; the mask is re-applied after
every epoch as well and the final sparsity is checked.

The attacked model handed back is the one at the largest rate whose clean accuracy
stays within 5 points of the unpruned victim (the attacker's best compression that
still keeps the model useful); the whole curve is in ``curve``.
"""
from __future__ import annotations

import copy
import time

import torch
from torch import nn

from attacks.base import Attack, AttackContext
from attacks.finetune import config, last_lr_recipe, measure
from harness.evaluate import accuracy
from harness.trainer import train
from harness.types import AttackResult, Cost, TrainHooks

RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9)
NC_TOLERANCE = 0.05  # "useful" = clean accuracy within 5 points of the unpruned model


def prunable(model: nn.Module) -> list[nn.Parameter]:
    """Weights of every conv and linear layer (not biases): what magnitude pruning ranks."""
    return [m.weight for m in model.modules()
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) and m.weight is not None]


@torch.no_grad()
def prune_global(model: nn.Module, rate: float) -> list[torch.Tensor]:
    """Zero the ``rate`` share of smallest-|w| prunable weights, ranked over all layers; returns the masks.

    Exactly round(rate * N) weights are pruned (ties broken by a stable sort), so the
    sparsity is the rate even when many weights share a magnitude.
    """
    weights = prunable(model)
    flat = torch.cat([w.detach().abs().flatten().float() for w in weights])
    k = int(round(rate * flat.numel()))
    keep = torch.ones_like(flat, dtype=torch.bool)
    if k > 0:
        keep[torch.argsort(flat, stable=True)[:k]] = False
    masks, offset = [], 0
    for w in weights:
        mask = keep[offset:offset + w.numel()].view_as(w)
        offset += w.numel()
        w.mul_(mask.to(w.dtype))
        masks.append(mask)
    return masks


def sparsity(model: nn.Module) -> float:
    """Share of exact zeros among the prunable weights."""
    weights = prunable(model)
    return float(sum(int((w == 0).sum()) for w in weights) / max(sum(w.numel() for w in weights), 1))


class _KeepMasks(TrainHooks):
    """Masks gradients of pruned weights during fine-pruning and re-applies the masks after each epoch."""

    def __init__(self, weights: list[nn.Parameter], masks: list[torch.Tensor]):
        self.weights, self.masks, self.handles = weights, masks, []

    def setup(self, model: nn.Module) -> list[nn.Parameter]:
        for w, m in zip(self.weights, self.masks):
            mf = m.to(w.device, w.dtype)
            self.handles.append(w.register_hook(lambda g, mf=mf: g * mf))
        return []

    @torch.no_grad()
    def on_epoch_end(self, model: nn.Module, epoch: int) -> None:
        for w, m in zip(self.weights, self.masks):
            w.mul_(m.to(w.device, w.dtype))

    def teardown(self, model: nn.Module) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


class Pruning(Attack):
    name = "pruning"
    summary = "global magnitude pruning at rates 0-0.9, optionally fine-tuned with fixed masks (fine-pruning)"
    settings = {
        "magnitude": {"finetune_epochs": 0},
        "fine_pruning": {"finetune_epochs": 1},
    }
    default_settings = ("magnitude", "fine_pruning")

    def run(self, victim: nn.Module, ctx: AttackContext) -> AttackResult:
        cfg = config(self, ctx)
        rates = sorted(float(r) for r in cfg.get("rates", RATES))
        ft_epochs = int(cfg["finetune_epochs"])
        recipe = last_lr_recipe(ctx, ft_epochs) if ft_epochs else None
        start = time.perf_counter()
        victim = victim.to(ctx.device).eval()
        base_nc = accuracy(victim, ctx.test)
        curve, cost = [], Cost()
        best: tuple[float, nn.Module, dict] | None = None
        for rate in rates:
            model = copy.deepcopy(victim)
            masks = prune_global(model, rate)
            if recipe is not None:
                hook = _KeepMasks(prunable(model), masks)
                log = train(model, ctx.attacker, recipe, hooks=[hook], seed=ctx.seed, device=ctx.device,
                            desc=f"fine-prune {rate:.2f}", checkpoint=ctx.checkpoint(f"rate{rate:g}"))
                cost.epochs += log.epochs
                cost.samples += log.samples
                cost.steps += log.steps
            row = {"rate": rate, "sparsity": sparsity(model), **measure(model, ctx)}
            curve.append(row)
            if row["nc_acc"] >= base_nc - NC_TOLERANCE and (best is None or rate >= best[0]):
                best = (rate, model, row)
        cost.seconds = time.perf_counter() - start
        metrics = {"base_nc_acc": base_nc, "finetune_epochs": ft_epochs,
                   "finetune_lr": recipe.lr if recipe is not None else None}
        if best is None:  # even the smallest rate lost > 5 points (possible with fine-pruning at a bad lr)
            metrics.update(max_rate_within_5pt=None, verified_at_max_rate=None, wm_acc_at_max_rate=None,
                           nc_acc_at_max_rate=None)
            return AttackResult(model=victim, metrics=metrics, curve=curve, cost=cost)
        rate, model, row = best
        metrics.update(max_rate_within_5pt=rate, verified_at_max_rate=row["verified"],
                       wm_acc_at_max_rate=row["wm_acc"], nc_acc_at_max_rate=row["nc_acc"])
        return AttackResult(model=model, metrics=metrics, curve=curve, cost=cost)
