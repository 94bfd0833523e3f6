"""Corruption attack (Li et al., public verification): the attacker KNOWS the owner's watermark
(null embedding publishes its pattern through the certificate; for trigger schemes assume the
trigger set leaked) and trains to break it while keeping normal accuracy.

Generic over schemes: the owner's own embedding hooks produce the watermark samples, and
the attacker inverts them. Extra samples (null / true / trigger inputs) are relabelled to
a random *other* class, so training pushes f(x+P) != y and f(x+P~) != y_W (or the trigger
label away); an extra loss term (bit-string schemes) is maximised instead of minimised,
capped at ``loss_cap`` so the ascent stays bounded. The attacker's clean data keep nc.

Reports the cost: the first step (and samples) at which the owner's claim stops verifying,
from a curve logged every ``check_every`` steps.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from attacks.base import Attack, AttackContext
from harness.evaluate import accuracy
from harness.trainer import train
from harness.types import AttackResult, Cost, ExtraBatch, TrainHooks

EPOCHS = {"smoke": 2, "quick": 5, "paper": 10}


class InvertedHooks(TrainHooks):
    """Wraps the owner's hooks: watermark samples get wrong labels, watermark losses are ascended."""

    def __init__(self, inner: TrainHooks, num_classes: int, loss_cap: float):
        self.inner, self.num_classes, self.loss_cap = inner, num_classes, loss_cap

    def setup(self, model: nn.Module) -> list[nn.Parameter]:
        return self.inner.setup(model)

    def extra_batch(self, x: Tensor, y: Tensor, gen: torch.Generator) -> list[ExtraBatch]:
        out = []
        for eb in self.inner.extra_batch(x, y, gen):
            shift = torch.randint(1, self.num_classes, eb.y.shape, generator=gen, device=gen.device).to(eb.y.device)
            out.append(ExtraBatch(eb.x, (eb.y + shift) % self.num_classes, eb.weight))
        return out

    def extra_loss(self, model: nn.Module, x: Tensor, y: Tensor, logits: Tensor) -> Tensor | None:
        loss = self.inner.extra_loss(model, x, y, logits)
        return None if loss is None else -torch.clamp(loss, max=self.loss_cap)

    def teardown(self, model: nn.Module) -> None:
        self.inner.teardown(model)


class Corruption(Attack):
    name = "corruption"
    summary = "attacker who knows the owner's watermark trains to break it while keeping accuracy (Li et al.)"
    settings: dict[str, dict[str, Any]] = {
        "last_lr": {},  # the owner's optimiser at its last learning rate, like the paper's piracy protocol
        "adam": {"optimizer": "adam", "lr": 1e-3},
    }
    default_settings = ("last_lr",)

    def run(self, victim: nn.Module, ctx: AttackContext) -> AttackResult:
        setting = self.settings[ctx.setting]
        epochs = int(ctx.params.get("epochs", EPOCHS.get(ctx.task.profile, 5)))
        recipe = ctx.recipe.replace(lr=ctx.recipe.final_lr(ctx.train_size), schedule="constant", warmup_steps=0,
                                    epochs=epochs)
        if "optimizer" in setting:
            recipe = recipe.replace(optimizer=setting["optimizer"], lr=setting["lr"], momentum=0.0)
        hooks = [InvertedHooks(h, ctx.task.num_classes, float(ctx.params.get("loss_cap", 10.0)))
                 for h in ctx.scheme.hooks(ctx.owner_key, ctx.task)]
        steps_per_epoch = -(-len(ctx.attacker) // recipe.batch_size)
        check_every = int(ctx.params.get("check_every", max(1, steps_per_epoch // 4)))
        first_broken: dict[str, Any] = {}

        def measure(epoch: int, step: int, model: nn.Module) -> dict:
            owner = ctx.verify_owner(model)
            row = {"nc_acc": accuracy(model, ctx.test), "wm_acc": owner.wm_acc, "verified": owner.verified}
            if not owner.verified and not first_broken:
                first_broken.update(step=step, samples=step * recipe.batch_size)
            return row

        log = train(victim, ctx.attacker, recipe, hooks=hooks, seed=ctx.seed + 7, device=ctx.device,
                    callback=measure, eval_every=check_every, desc="corruption")
        metrics = {"steps_to_break": first_broken.get("step"), "samples_to_break": first_broken.get("samples"),
                   "broken": bool(first_broken), "attacker_data": len(ctx.attacker), "epochs": epochs}
        return AttackResult(model=victim, metrics=metrics, curve=log.curve,
                            cost=Cost(epochs=epochs, samples=log.samples, steps=log.steps, seconds=log.seconds))
