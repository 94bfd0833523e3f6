"""``transfer``: transfer learning from the watermarked teacher, then the verifier's recovery (Li et al. section 8.4).

Student (Table 7): a copy of the teacher with every layer but the last, plus a new
classification layer for the target task, trained on the target task's data in one
of the paper's four modes:

  added     only the new classification layer
  last_two  the new layer and the dense layer before it (the last two layers)
  dense     every dense (``nn.Linear``) layer
  all       every layer

Layers outside the mode are frozen and kept in eval mode, so their parameters and
buffers stay bit-identical to the teacher's. At the ``paper`` profile the student
trains as in Li et al.'s appendix (SGD lr 0.01, 0 decay, 200 epochs, the target
task's batch size); smaller profiles use the target task's own recipe and epochs
(``student_recipe="paper"`` / ``"task"`` and ``student_epochs`` override).

Recovery (Table 8): the verification authority replaces the student's last layer by
a randomly initialised one of the teacher's output size, fine-tunes it with the same
mode and optimiser on the teacher's training data (``ctx.attacker`` stands in for
the owner's data) for 6 epochs, and verifies the owner's watermark on that model,
which is what this attack hands back.

Target task: ``ctx.params["target_task"]`` or ``ctx.extra["target_task"]``, a ``Task``
(e.g. ``tasks.classsplit.ClassSplit``: teacher on some GTSRB classes, student on the
rest) or a registered task name; its input shape must match the teacher's.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from attacks.base import Attack, AttackContext
from attacks.finetune import thinned
from harness.errors import BadInput
from harness.evaluate import accuracy
from harness.trainer import train
from harness.types import AttackResult, Cost, TrainHooks
from tasks.base import Recipe, Task

MODES = ("added", "last_two", "dense", "all")
RECOVERY_EPOCHS = {"smoke": 2, "quick": 6, "paper": 6}  # Li et al.: "for 6 epochs"
# Li et al. appendix A.3: "SGD optimizer with 0.01 learning rate and 0 decay", 200 epochs.
PAPER_STUDENT = dict(optimizer="sgd", lr=0.01, momentum=0.0, weight_decay=0.0, lr_decay=0.0, schedule="constant",
                     warmup_steps=0, epochs=200)


def trainable_params(model: nn.Module, mode: str) -> list[nn.Parameter]:
    """The parameters a transfer mode trains (the head is whatever ``get_classifier()`` returns)."""
    head = model.get_classifier()
    head_params = list(head.parameters())
    if mode == "added":
        return head_params
    if mode == "all":
        return list(model.parameters())
    linears = [m for m in model.modules() if isinstance(m, nn.Linear) and m is not head]
    if mode == "dense":
        return head_params + [p for m in linears for p in m.parameters()]
    if mode == "last_two":
        # The dense layer before the head; architectures without one fall back to the last layer with weights.
        layers = linears or [m for m in model.modules()
                             if m is not head and any(True for _ in m.parameters(recurse=False))]
        return head_params + (list(layers[-1].parameters()) if layers else [])
    raise BadInput(f"unknown transfer mode {mode!r}; known: {', '.join(MODES)}")


class _FreezeOthers(TrainHooks):
    """Keeps modules without trainable parameters in eval mode (frozen BatchNorm/dropout stay exactly as the teacher's)."""

    def __init__(self, trainable: list[nn.Parameter]):
        self.ids = {id(p) for p in trainable}
        self.model: nn.Module | None = None

    def setup(self, model: nn.Module) -> list[nn.Parameter]:
        self.model = model
        return []

    def extra_batch(self, x: Tensor, y: Tensor, gen: torch.Generator) -> list:
        # Runs before every forward (the trainer calls model.train() after callbacks).
        for m in self.model.modules():
            own = list(m.parameters(recurse=False))
            m.train(bool(own) and any(id(p) in self.ids for p in own))
        return []


def train_mode(model: nn.Module, data, recipe, mode: str, *, seed: int, device: torch.device, callback, desc: str,
               checkpoint: Path | None = None):
    """Train only the mode's parameters; the rest get no gradients (same result, less work) and stay in eval mode."""
    params = trainable_params(model, mode)
    ids = {id(p) for p in params}
    frozen = [p for p in model.parameters() if id(p) not in ids and p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    hooks = [] if mode == "all" else [_FreezeOthers(params)]
    try:
        return train(model, data, recipe, hooks=hooks, seed=seed, device=device, params=params,
                     callback=callback, desc=desc, checkpoint=checkpoint)
    finally:
        for p in frozen:
            p.requires_grad_(True)


def new_head(model: nn.Module, num_classes: int, seed: int) -> None:
    """A freshly initialised classification layer (seeded; the global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.reset_classifier(num_classes)


def target_task(ctx: AttackContext) -> Task:
    target = ctx.params.get("target_task") or ctx.extra.get("target_task")
    if isinstance(target, str):
        from tasks import get_task

        target = get_task(target, data_dir=ctx.task.data_dir, profile=ctx.task.profile)
    if target is None:
        raise BadInput("attack 'transfer' needs a target task (params or extra 'target_task', e.g. a GTSRB class split)")
    if tuple(target.input_shape) != tuple(ctx.task.input_shape):
        raise BadInput(f"transfer target {target.name} has input shape {tuple(target.input_shape)}, "
                       f"the teacher's task {ctx.task.name} has {tuple(ctx.task.input_shape)}")
    return target


class Transfer(Attack):
    name = "transfer"
    summary = "transfer learning to a new task in 4 modes (Li Table 7) and the verifier's head recovery (Table 8)"
    settings = {mode: {"mode": mode} for mode in MODES}

    def config(self, ctx: AttackContext) -> dict[str, Any]:
        if ctx.setting not in self.settings:
            raise BadInput(f"unknown setting {ctx.setting!r} for attack {self.name}; known: {', '.join(self.settings)}")
        return {**self.settings[ctx.setting], **ctx.params}

    def student_recipe(self, cfg: dict[str, Any], ctx: AttackContext, target: Task) -> Recipe:
        kind = cfg.get("student_recipe") or ("paper" if ctx.task.profile == "paper" else "task")
        if kind not in ("paper", "task"):
            raise BadInput(f"unknown student_recipe {kind!r}; known: paper, task")
        recipe = target.recipe.replace(**PAPER_STUDENT) if kind == "paper" else target.recipe
        return recipe.replace(epochs=int(cfg["student_epochs"])) if "student_epochs" in cfg else recipe

    def run(self, victim: nn.Module, ctx: AttackContext) -> AttackResult:
        cfg = self.config(ctx)
        mode = cfg["mode"]
        target = target_task(ctx)
        start = time.perf_counter()
        teacher_classes = int(getattr(victim.get_classifier(), "out_features", None) or victim.num_classes)
        student = copy.deepcopy(victim).to(ctx.device)
        new_head(student, target.num_classes, ctx.seed)
        s_recipe = self.student_recipe(cfg, ctx, target)
        s_test = target.data("test")
        s_log = train_mode(student, target.data("train"), s_recipe, mode, seed=ctx.seed, device=ctx.device,
                           callback=thinned(lambda e, s, m: {"phase": "student", "student_acc": accuracy(m, s_test)},
                                            s_recipe.epochs),
                           desc=f"transfer/{mode}/student", checkpoint=ctx.checkpoint("student"))
        student_acc = accuracy(student, s_test)
        direct = ctx.verify_owner(student)  # white-box schemes may still read their mark in the student's body

        # Recovery: the verifier's transparent process, same mode and optimiser, on the owner's data.
        recovered = copy.deepcopy(student)
        new_head(recovered, teacher_classes, ctx.seed + 1)
        epochs = int(cfg.get("recovery_epochs") or RECOVERY_EPOCHS.get(ctx.task.profile, 6))
        r_recipe = s_recipe.replace(epochs=epochs)

        def measure(e: int, s: int, m: nn.Module) -> dict[str, Any]:
            owner = ctx.verify_owner(m)
            return {"phase": "recovery", "nc_acc": accuracy(m, ctx.test), "wm_acc": float(owner.wm_acc),
                    "verified": bool(owner.verified)}

        r_log = train_mode(recovered, ctx.attacker, r_recipe, mode, seed=ctx.seed + 1, device=ctx.device,
                           callback=measure, desc=f"transfer/{mode}/recovery", checkpoint=ctx.checkpoint("recovery"))
        nc_acc = accuracy(recovered, ctx.test)
        metrics = {"mode": mode, "target_task": target.name, "target_classes": target.num_classes,
                   "teacher_classes": teacher_classes, "student_acc": student_acc,
                   "student_wm_acc_direct": float(direct.wm_acc), "student_verified_direct": bool(direct.verified),
                   "recovered_nc_acc": nc_acc, "student_epochs": s_recipe.epochs, "recovery_epochs": epochs}
        cost = Cost(epochs=s_log.epochs + r_log.epochs, samples=s_log.samples + r_log.samples,
                    steps=s_log.steps + r_log.steps, seconds=time.perf_counter() - start)
        return AttackResult(model=recovered, metrics=metrics, curve=s_log.curve + r_log.curve, cost=cost, nc_acc=nc_acc)
