"""``finetune``: Adi et al.'s four fine-tune modes and Li et al.'s accuracy fine-tuning (Fig. 5).

Modes (Adi et al., USENIX Security 2018, on the attacker split):
  ftll  fine-tune the last layer only       ftal  fine-tune all layers
  rtll  re-initialise the last layer, tune it only   rtal  re-initialise it, tune all
with the original code's optimiser: SGD lr 0.001, momentum 0.9, weight decay 5e-4,
20 epochs (`paper`; smoke 2, quick 10), no gradient clipping, the owner's batch size. ``paper_accuracy`` is Li et al. section 8.1:
all layers, the owner's own recipe (optimiser, batch, decay, clipping) continued at
its last learning rate for a long run (Fig. 5 shows 100 epochs), with the per-epoch curve.

In the last-layer modes only the head's parameters are optimised and the rest of
the network is kept in eval mode (BatchNorm statistics and dropout frozen), so every
non-head parameter and buffer stays bit-identical: "fine-tune the last layer" means
exactly that, also on timm models with BatchNorm.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch
from torch import Tensor, nn

from attacks.base import Attack, AttackContext
from harness.errors import BadInput
from harness.evaluate import accuracy
from harness.trainer import train
from harness.types import AttackResult, Cost, TrainHooks
from tasks.base import Recipe

# Adi et al.'s public code: SGD lr 0.001 (0.01 in its README), momentum 0.9, wd 5e-4, 20 epochs.
ADI_RECIPE = dict(optimizer="sgd", lr=0.001, momentum=0.9, weight_decay=5e-4)
ADI_EPOCHS = {"smoke": 2, "quick": 10, "paper": 20}
# Li et al. Fig. 5: "even after 100 epochs of fine-tuning" -> a long run at `paper`.
LONG_EPOCHS = {"smoke": 2, "quick": 20, "paper": 100}


def measure(model: nn.Module, ctx: AttackContext) -> dict[str, Any]:
    """One curve row: clean accuracy and the owner's verification on held-out data."""
    owner = ctx.verify_owner(model)
    return {"nc_acc": accuracy(model, ctx.test), "wm_acc": float(owner.wm_acc), "verified": bool(owner.verified)}


CURVE_POINTS = 25  # curve rows per attack training at most; each row evaluates nc and the owner's mark


Callback = Callable[[int, int, nn.Module], dict | None]


def thinned(callback: Callback, epochs: int, points: int = CURVE_POINTS) -> Callback:
    """``callback`` called after at most ``points`` evenly spaced epochs, the last one always.

    Every epoch up to ``points`` epochs (all of `smoke` / `quick`); a 300-epoch `paper` extraction
    would otherwise spend most of its time evaluating 20,000 images 300 times."""
    every = max(1, math.ceil(epochs / points))
    return lambda epoch, step, m: callback(epoch, step, m) if (epoch + 1) % every == 0 or epoch + 1 == epochs else None


def measure_epochs(ctx: AttackContext, epochs: int, points: int = CURVE_POINTS) -> Callback:
    """A trainer callback measuring nc and the owner's mark (``measure``) on the ``thinned`` schedule."""
    return thinned(lambda epoch, step, m: measure(m, ctx), epochs, points)


def config(attack: Attack, ctx: AttackContext) -> dict[str, Any]:
    """The setting's parameters overridden by the caller's ``ctx.params``; unknown settings fail in one line."""
    if ctx.setting not in attack.settings:
        raise BadInput(f"unknown setting {ctx.setting!r} for attack {attack.name}; known: {', '.join(attack.settings)}")
    return {**attack.settings[ctx.setting], **ctx.params}


def last_lr_recipe(ctx: AttackContext, epochs: int) -> Recipe:
    """The owner's recipe continued at its last learning rate (Li et al.'s protocol), constant, no warm-up."""
    lr = ctx.recipe.final_lr(ctx.train_size or len(ctx.attacker))
    return ctx.recipe.replace(lr=lr, schedule="constant", lr_decay=0.0, warmup_steps=0, epochs=epochs)


def reinit_head(model: nn.Module, seed: int) -> None:
    """Replace the classifier by a freshly initialised one of the same size (seeded, global RNG untouched)."""
    head = model.get_classifier()
    n_out = getattr(head, "out_features", None) or getattr(model, "num_classes")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.reset_classifier(n_out)


class _FreezeBody(TrainHooks):
    """Keeps everything but the head in eval mode each step (the trainer calls ``model.train()``)."""

    def __init__(self) -> None:
        self.model: nn.Module | None = None

    def setup(self, model: nn.Module) -> list[nn.Parameter]:
        self.model = model
        return []

    def extra_batch(self, x: Tensor, y: Tensor, gen: torch.Generator) -> list:
        # Runs before every forward: the cheapest per-step point to restore the modes.
        self.model.eval()
        self.model.get_classifier().train()
        return []


class FineTune(Attack):
    name = "finetune"
    summary = "fine-tune last/all layers, optionally re-initialising the head (Adi); accuracy fine-tuning (Li Fig. 5)"
    settings = {
        "ftll": {"layers": "last", "reinit": False},
        "ftal": {"layers": "all", "reinit": False},
        "rtll": {"layers": "last", "reinit": True},
        "rtal": {"layers": "all", "reinit": True},
        "paper_accuracy": {"layers": "all", "reinit": False, "recipe": "owner_last_lr"},
    }
    default_settings = ("ftll", "ftal", "rtll", "rtal")

    def _recipe(self, cfg: dict[str, Any], ctx: AttackContext) -> Recipe:
        profile = ctx.task.profile
        if cfg.get("recipe") == "owner_last_lr":
            recipe = last_lr_recipe(ctx, int(cfg.get("epochs") or LONG_EPOCHS.get(profile, 20)))
        else:
            recipe = Recipe(**ADI_RECIPE, batch_size=ctx.recipe.batch_size,
                            epochs=int(cfg.get("epochs") or ADI_EPOCHS.get(profile, 20)))
        overrides = {k: cfg[k] for k in ("lr", "momentum", "weight_decay", "batch_size", "optimizer") if k in cfg}
        return recipe.replace(**overrides)

    def run(self, victim: nn.Module, ctx: AttackContext) -> AttackResult:
        cfg = config(self, ctx)
        recipe = self._recipe(cfg, ctx)
        start = time.perf_counter()
        model = victim.to(ctx.device)
        if cfg["reinit"]:
            reinit_head(model, ctx.seed)
        last_only = cfg["layers"] == "last"
        params = list(model.get_classifier().parameters()) if last_only else None
        hooks = [_FreezeBody()] if last_only else []
        frozen = [p for p in model.parameters() if p.requires_grad and all(p is not q for q in params)] if last_only else []
        for p in frozen:  # no gradients through the frozen body: same result, much less work
            p.requires_grad_(False)
        curve = [{"epoch": 0, "step": 0, **measure(model, ctx)}]
        try:
            log = train(model, ctx.attacker, recipe, hooks=hooks, seed=ctx.seed, device=ctx.device, params=params,
                        callback=measure_epochs(ctx, recipe.epochs), desc=f"finetune/{ctx.setting}",
                        checkpoint=ctx.checkpoint())
        finally:
            for p in frozen:
                p.requires_grad_(True)
        curve += log.curve
        # "*_before" here is the curve's first point: after the head re-initialisation for rtll / rtal, so it is
        # the attack's starting point, not the victim's accuracy (that is the row's nc_acc_before column).
        metrics = {"epochs": recipe.epochs, "lr": recipe.lr, "layers": cfg["layers"], "reinit": cfg["reinit"],
                   "nc_acc_before": curve[0]["nc_acc"], "wm_acc_before": curve[0]["wm_acc"]}
        cost = Cost(epochs=log.epochs, samples=log.samples, steps=log.steps, seconds=time.perf_counter() - start)
        return AttackResult(model=model, metrics=metrics, curve=curve, cost=cost)
