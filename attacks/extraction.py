"""``extraction``: model extraction (Tramer et al. 2016) as Li et al. section 8.3 / Table 6 run it.

The attacker gathers unlabelled inputs, labels them with the victim's predictions and
trains a substitute of the same architecture from scratch, with the task's training
recipe for the profile and no watermark hooks (Li et al.: "Table 14 with 0 inject
ratio"). Settings sweep the amount of in-distribution data (n1000, n5000, n10000,
all) and out-of-distribution sources (ood_noise: random images; ood_data: another
task's training images, which the harness passes as ``ctx.extra["ood"]`` (param
``ood_task``; default GTSRB for the digit tasks, MNIST otherwise), converted to this
task's channels and resolution). In-distribution
inputs come from the attacker split; when a size exceeds it they are drawn from the
owner's training split the harness passes as ``ctx.extra["train"]`` (the paper's
"at least as much data as the owner" question); only the inputs are used, never the
labels. ``data_size`` records how many inputs were actually available.

Labels: ``hard`` (default) trains on the victim's argmax. ``soft`` is Hinton-style
distillation: the trainer's cross-entropy on the victim's argmax plus
KL(p_victim || p_substitute) at temperature 1, added through ``TrainHooks.extra_loss``;
the victim is queried on each batch (the trainer does not pass row indices, and the
victim is deterministic in eval mode, so this equals a precomputed lookup).
"""
from __future__ import annotations

import copy
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attacks.base import Attack, AttackContext
from attacks.finetune import config, measure_epochs
from harness.errors import BadInput
from harness.evaluate import accuracy, predict
from harness.trainer import train
from harness.types import AttackResult, Cost, TrainHooks
from tasks.base import Data

OOD_SIZE = 10000


def noise_images(n: int, shape: tuple[int, int, int], seed: int) -> Tensor:
    """``n`` uint8 random images: half i.i.d. uniform pixels, half smooth noise (uniform at 1/4 size, upsampled)."""
    g = torch.Generator().manual_seed(seed)
    c, h, w = shape
    n_uniform = n // 2
    uniform = torch.rand(n_uniform, c, h, w, generator=g)
    coarse = torch.rand(n - n_uniform, c, max(h // 4, 1), max(w // 4, 1), generator=g)
    smooth = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return (torch.cat([uniform, smooth]) * 255).round().clamp(0, 255).to(torch.uint8)


def to_shape(x: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """Another data set's images (uint8, or float in [0, 1]) as uint8 in this task's channels and resolution."""
    c, h, w = shape
    xf = x.float() if x.dtype == torch.uint8 else x.float() * 255
    if xf.shape[1] != c:
        xf = xf.mean(1, keepdim=True).expand(-1, c, -1, -1) if c in (1, 3) else xf[:, :1].expand(-1, c, -1, -1)
    if xf.shape[2:] != (h, w):
        xf = F.interpolate(xf, size=(h, w), mode="bilinear", align_corners=False)
    return xf.round().clamp(0, 255).to(torch.uint8)


def fresh_like(victim: nn.Module, ctx: AttackContext) -> nn.Module:
    """An untrained model of the victim's architecture (seeded; the global RNG is left alone).

    The task's builder is used when it produces the victim's parameter shapes; otherwise
    (a ``timm:`` or other non-default architecture) a copy of the victim with every
    layer's ``reset_parameters`` called.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.seed)
        model = ctx.task.model(ctx.extra.get("arch"))
        theirs = {k: v.shape for k, v in victim.state_dict().items()}
        if {k: v.shape for k, v in model.state_dict().items()} == theirs:
            return model.to(ctx.device)
        model = copy.deepcopy(victim)
        for m in model.modules():
            if hasattr(m, "reset_parameters") and m is not model:
                m.reset_parameters()
        return model.to(ctx.device)


class _SoftLabels(TrainHooks):
    """Adds KL(victim || substitute) on the (unaugmented) batch to the trainer's CE on hard labels."""

    def __init__(self, victim: nn.Module, temperature: float = 1.0):
        self.victim, self.t = victim, temperature

    def extra_loss(self, model: nn.Module, x: Tensor, y: Tensor, logits: Tensor) -> Tensor:
        with torch.no_grad():
            target = F.softmax(self.victim(x).float() / self.t, dim=1)
        log_p = F.log_softmax(logits.float() / self.t, dim=1)
        return F.kl_div(log_p, target, reduction="batchmean") * self.t ** 2


class Extraction(Attack):
    name = "extraction"
    summary = "train a watermark-free substitute from scratch on victim-labelled inputs (Li et al. 8.3, Table 6)"
    settings = {
        "n1000": {"n": 1000, "source": "in_dist"},
        "n5000": {"n": 5000, "source": "in_dist"},
        "n10000": {"n": 10000, "source": "in_dist"},
        "all": {"n": None, "source": "in_dist"},
        "ood_noise": {"n": OOD_SIZE, "source": "noise"},
        "ood_data": {"n": OOD_SIZE, "source": "other"},  # needs ctx.extra["ood"] (e.g. GTSRB for digit)
        "n5000_soft": {"n": 5000, "source": "in_dist", "labels": "soft"},
    }
    default_settings = ("n1000", "n5000", "n10000", "all", "ood_noise")

    def _inputs(self, cfg: dict[str, Any], ctx: AttackContext) -> tuple[Tensor, str]:
        n = cfg.get("n")
        if cfg["source"] == "noise":
            return noise_images(int(n or OOD_SIZE), ctx.task.input_shape, ctx.seed), "ood_noise"
        if cfg["source"] == "other":
            other = ctx.extra.get("ood")
            if other is None:
                raise BadInput("extraction setting 'ood_data' needs another task's images in ctx.extra['ood']")
            return to_shape(other.take(int(n or OOD_SIZE), seed=ctx.seed).x, ctx.task.input_shape), "ood_data"
        train = ctx.extra.get("train")
        if n is not None and n <= len(ctx.attacker):
            pool, source = ctx.attacker, "attacker"
        elif train is not None:
            pool, source = train, "train"
        else:  # no larger pool handed over: the attacker split is all there is
            pool, source = ctx.attacker, "attacker"
        return pool.take(len(pool) if n is None else int(n), seed=ctx.seed).x, source

    def run(self, victim: nn.Module, ctx: AttackContext) -> AttackResult:
        cfg = config(self, ctx)
        start = time.perf_counter()
        victim = victim.to(ctx.device).eval()
        x, source = self._inputs(cfg, ctx)
        queries = Data(x, torch.zeros(len(x), dtype=torch.long))
        labels = predict(victim, queries, device=ctx.device)
        data = Data(x, labels)
        recipe = ctx.task.recipe.replace(**{k: cfg[k] for k in ("epochs", "lr", "batch_size") if cfg.get(k)})
        soft = cfg.get("labels", "hard") == "soft"
        hooks = [_SoftLabels(victim, float(cfg.get("temperature", 1.0)))] if soft else []
        substitute = fresh_like(victim, ctx)
        log = train(substitute, data, recipe, hooks=hooks, seed=ctx.seed, device=ctx.device,
                    callback=measure_epochs(ctx, recipe.epochs), desc=f"extraction/{ctx.setting}",
                    checkpoint=ctx.checkpoint())
        victim_pred = predict(victim, ctx.test, device=ctx.device)
        agreement = float((predict(substitute, ctx.test, device=ctx.device) == victim_pred).float().mean())
        metrics = {"substitute_nc_acc": accuracy(substitute, ctx.test), "data_size": len(x), "source": source,
                   "labels": "soft" if soft else "hard", "queries": len(x), "agreement": agreement,
                   "victim_nc_acc": accuracy(victim, ctx.test), "epochs": recipe.epochs}
        if source == "ood_data":
            metrics["ood_task"] = ctx.params.get("ood_task")
        cost = Cost(epochs=log.epochs, samples=log.samples, steps=log.steps, seconds=time.perf_counter() - start)
        return AttackResult(model=substitute, metrics=metrics, curve=log.curve, cost=cost)
