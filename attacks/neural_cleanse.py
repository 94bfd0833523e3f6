"""``neural_cleanse``: backdoor detection by trigger reverse-engineering, then unlearning (Wang et al., S&P 2019).

Li et al. section 8.2 / Table 5 run it on watermarked and watermark-free models: a
backdoor-like watermark whose target label needs a much smaller trigger than the
other labels shows up as an anomaly (index > 2), and unlearning that trigger may
remove it. Settings follow the original public code (DESIGN.md section 8):

* per label t: mask = tanh(m)/2 + 0.5 (one H x W map shared by the channels),
  pattern = tanh(p)/2 + 0.5, x' = (1 - mask) x + mask * pattern, loss =
  CE(f(x'), t) + cost * |mask|_1, Adam lr 0.1 betas (0.5, 0.9), mask and pattern
  initialised uniformly at random;
* the adaptive cost: 0 until the attack succeeds (>= 0.99) for ``patience`` steps,
  then 1e-3, x2 after ``patience`` successful steps, / 2**1.5 after ``patience``
  failing ones; early stop after ``early_stop_patience`` steps without a smaller
  successful mask once the cost has moved both ways; keep the smallest successful mask;
* one "step" is a pass over ``nb_sample`` clean images in mini-batches of 32
  (original: 1,000 images -> 31 mini-batches, at most 1,000 steps).

All labels are optimised at once: masks (K, 1, H, W) and patterns (K, C, H, W)
form one tensor, every mini-batch is stamped with every label's trigger and the
model runs one forward over K x batch. Adam is element-wise, so this is exactly K
independent optimisations; each label's cost schedule and early stop is its own.

Anomaly index = |min L1 - median| / (1.4826 * MAD) over the labels' L1 norms;
flagged when > 2 (only labels at or below the median count, so the min-norm label
is the one that can be flagged). Mitigation: fine-tune on the attacker's clean data
in which 20% of the inputs carry the min-norm label's reversed trigger with their
correct labels (1 epoch in the paper), at the owner's last learning rate.

The search checkpoints to the cell's stem (part ``search<first label>``), so a search cut by a kill or
a session's end continues where it was saved; the row's ``metrics.resumed`` then names each process's
steps (under ``epochs``, as for trainings).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attacks.base import Attack, AttackContext
from harness.device import autocast, device_label
from harness.errors import BadInput
from harness.evaluate import accuracy
from harness.resume import Checkpointer
from harness.trainer import progress_line, train
from harness.types import AttackResult, Cost
from tasks.base import Data

# Original code (bolunwang/backdoor, gtsrb_visualize_example.py / visualizer.py).
PAPER = dict(lr=0.1, betas=(0.5, 0.9), init_cost=1e-3, success=0.99, patience=5, cost_up=2.0,
             cost_down=2.0 ** 1.5, batch_size=32, nb_sample=1000, steps=1000, early_stop_patience=25,
             unlearn_ratio=0.2, unlearn_epochs=1, threshold=2.0)
# Smaller profiles only shrink the search budget (images per step, steps, early-stop wait). smoke: 4 updates
# of 8 images per step, 50 steps; on digit-mini it finds a 3x3 backdoor's trigger (L1 8-10, the patch has 9)
# with index 2.7-3.6 over 3 seeds, vs 0.7-3.0 for the clean model. One update per step lets the cost
# schedule (patience counted in steps) outrun the mask and misses the trigger on some seeds.
PROFILE = {
    "smoke": dict(batch_size=8, nb_sample=32, steps=50, early_stop_patience=10),
    "quick": dict(nb_sample=320, steps=300, early_stop_patience=25),
    "paper": {},
}
MAD_CONSISTENCY = 1.4826
_EPS = 1e-7  # the original's K.epsilon(): keeps arctanh finite and the mask strictly inside (0, 1)


def anomaly_index(l1: list[float] | np.ndarray) -> float:
    """The original's MAD outlier score of the smallest norm: |min - median| / (1.4826 * MAD)."""
    l1 = np.asarray(l1, dtype=np.float64)
    median = np.median(l1)
    mad = MAD_CONSISTENCY * np.median(np.abs(l1 - median))
    dev = abs(float(l1.min()) - median)
    if mad == 0:
        return 0.0 if dev == 0 else math.inf
    return float(dev / mad)


class CostSchedule:
    """The original's per-label adaptive cost and early stop, vectorised over K labels (NumPy, once per step)."""

    STATE = ("cost", "set_counter", "up_counter", "down_counter", "up_flag", "down_flag", "reg_best", "es_reg_best",
             "es_counter", "done")

    def __init__(self, k: int, cfg: dict[str, Any]):
        self.cfg = cfg
        self.cost = np.zeros(k)  # reset_cost_to_zero: 0 until the attack first succeeds
        self.set_counter = np.zeros(k, dtype=int)
        self.up_counter = np.zeros(k, dtype=int)
        self.down_counter = np.zeros(k, dtype=int)
        self.up_flag = np.zeros(k, dtype=bool)
        self.down_flag = np.zeros(k, dtype=bool)
        self.reg_best = np.full(k, np.inf)
        self.es_reg_best = np.full(k, np.inf)
        self.es_counter = np.zeros(k, dtype=int)
        self.done = np.zeros(k, dtype=bool)

    def state_dict(self) -> dict[str, Tensor]:
        """As tensors: a checkpoint is read back with ``weights_only``, which takes no NumPy arrays."""
        return {name: torch.from_numpy(getattr(self, name).copy()) for name in self.STATE}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for name in self.STATE:
            setattr(self, name, state[name].numpy().copy())

    def update(self, active: np.ndarray, acc: np.ndarray, reg: np.ndarray) -> np.ndarray:
        """One step's bookkeeping for the ``active`` labels; returns where a new best mask was found."""
        c = self.cfg
        succ = acc >= c["success"]
        improved = active & succ & (reg < self.reg_best)
        self.reg_best = np.where(improved, reg, self.reg_best)
        # Early stop (threshold 1.0: any non-improving step counts), only once a valid trigger exists.
        found = np.isfinite(self.reg_best)
        stale = found & (self.reg_best >= self.es_reg_best)
        self.es_counter = np.where(active & found, np.where(stale, self.es_counter + 1, 0), self.es_counter)
        self.es_reg_best = np.where(active, np.minimum(self.reg_best, self.es_reg_best), self.es_reg_best)
        stop = active & self.up_flag & self.down_flag & (self.es_counter >= c["early_stop_patience"])
        self.done |= stop
        act = active & ~stop
        # Cost set from 0 to init_cost after `patience` successful steps.
        zero = self.cost == 0
        self.set_counter = np.where(act & zero & succ, self.set_counter + 1, np.where(act, 0, self.set_counter))
        init = act & (self.set_counter >= c["patience"])
        self.cost = np.where(init, c["init_cost"], self.cost)
        for arr in (self.up_counter, self.down_counter):
            arr[init] = 0
        self.up_flag[init] = False
        self.down_flag[init] = False
        # Cost up after `patience` successes in a row, down after `patience` failures.
        self.up_counter = np.where(act, np.where(succ, self.up_counter + 1, 0), self.up_counter)
        self.down_counter = np.where(act, np.where(succ, 0, self.down_counter + 1), self.down_counter)
        up = act & (self.up_counter >= c["patience"])
        down = act & ~up & (self.down_counter >= c["patience"])
        self.up_counter[up] = 0
        self.down_counter[down] = 0
        self.cost = np.where(up, self.cost * c["cost_up"], np.where(down, self.cost / c["cost_down"], self.cost))
        self.up_flag |= up
        self.down_flag |= down
        return improved


def _to_unit(t: Tensor) -> Tensor:
    return torch.tanh(t) / (2 - _EPS) + 0.5


def stamp(x: Tensor, mask: Tensor, pattern: Tensor) -> Tensor:
    """x' = (1 - mask) x + mask * pattern (broadcast over a leading batch axis)."""
    return (1 - mask) * x + mask * pattern


def reverse_triggers(model: nn.Module, data: Data, labels: list[int], cfg: dict[str, Any], *, device: torch.device,
                     seed: int, checkpoint: Path | None = None) -> dict[str, Any]:
    """Reverse-engineer the minimal trigger of every label in ``labels`` at once (batched over labels).

    With ``checkpoint`` (a file path) the search state is saved every few minutes (``WMBENCH_CHECKPOINT_EVERY``)
    and a rerun continues from its last saved step: a Traffic `quick` search runs for an hour or more on a CPU.
    Resuming gives the uninterrupted search's triggers (tested); the history's ``epochs`` count search steps."""
    k, (c, h, w) = len(labels), tuple(data.x.shape[1:])
    gen = torch.Generator().manual_seed(seed)
    clean = data.take(cfg["nb_sample"], seed=seed).to(device)
    bs = cfg["batch_size"]
    n_batches = max(1, len(clean) // bs)  # the original drops the remainder (1000 // 32 = 31)
    init_mask = torch.rand(k, 1, h, w, generator=gen)
    init_pattern = torch.rand(k, c, h, w, generator=gen)
    mask_p = torch.atanh((init_mask - 0.5) * (2 - _EPS)).to(device).requires_grad_(True)
    pattern_p = torch.atanh((init_pattern - 0.5) * (2 - _EPS)).to(device).requires_grad_(True)
    opt = torch.optim.Adam([mask_p, pattern_p], lr=cfg["lr"], betas=cfg["betas"])
    targets_all = torch.tensor(labels, device=device)
    sched = CostSchedule(k, cfg)
    best_mask = _to_unit(mask_p.detach()).clone()
    best_pattern = _to_unit(pattern_p.detach()).clone()
    steps, start, shown = 0, time.perf_counter(), time.perf_counter()
    fp = json.loads(json.dumps({"cfg": cfg, "labels": labels, "seed": seed, "n": len(clean), "shape": [c, h, w]},
                               sort_keys=True, default=str))
    saver = Checkpointer(checkpoint, fp, device=device_label(device) if checkpoint is not None else "")
    saved = saver.load()
    if saved is not None:
        with torch.no_grad():
            mask_p.copy_(saved["mask_p"])
            pattern_p.copy_(saved["pattern_p"])
            best_mask.copy_(saved["best_mask"])
            best_pattern.copy_(saved["best_pattern"])
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        gen.set_state(saved["gen"])
        steps = int(saved["epoch"])
        start -= saved["seconds"]
        progress_line(f"neural_cleanse: resumed at step {steps}/{cfg['steps']} from {checkpoint}")
    for _ in range(steps, cfg["steps"]):
        if time.perf_counter() - shown >= 60:  # a Traffic `quick` search runs for many minutes on a CPU: show it moving
            shown = time.perf_counter()
            progress_line(f"neural_cleanse: step {steps}/{cfg['steps']}, {int((~sched.done).sum())} of {k} labels "
                          f"still searching, {shown - start:.0f} s")
        active_np = ~sched.done
        if not active_np.any():
            break
        active = torch.from_numpy(np.flatnonzero(active_np)).to(device)
        cost = torch.from_numpy(sched.cost).float().to(device)[active]
        acc_sum = torch.zeros(len(active), device=device)
        reg_sum = torch.zeros(len(active), device=device)
        perm = torch.randperm(len(clean), generator=gen).to(device)
        for b in range(n_batches):
            x = clean.floats(perm[b * bs:(b + 1) * bs])
            mask, pattern = _to_unit(mask_p[active]), _to_unit(pattern_p[active])
            xs = stamp(x.unsqueeze(0), mask.unsqueeze(1), pattern.unsqueeze(1)).flatten(0, 1)  # (A*B, C, H, W)
            y = targets_all[active].repeat_interleave(len(x))
            with autocast(device):
                logits = model(xs)
            ce = F.cross_entropy(logits.float(), y, reduction="none").view(len(active), -1).mean(1)
            reg = mask.abs().sum((1, 2, 3))
            loss = (ce + cost * reg).sum()  # labels are independent: the sum gives each its own gradient
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc_sum += (logits.argmax(1) == y).float().view(len(active), -1).mean(1).detach()
            reg_sum += reg.detach()
        steps += 1
        acc = np.zeros(k)
        reg_np = np.full(k, np.inf)
        acc[active_np] = (acc_sum / n_batches).cpu().numpy()
        reg_np[active_np] = (reg_sum / n_batches).cpu().numpy()
        improved = torch.from_numpy(sched.update(active_np, acc, reg_np)).to(device)
        if improved.any():
            with torch.no_grad():
                best_mask[improved] = _to_unit(mask_p[improved])
                best_pattern[improved] = _to_unit(pattern_p[improved])
        saver.maybe_save(steps, cfg["steps"], lambda: {
            "mask_p": mask_p.detach().cpu(), "pattern_p": pattern_p.detach().cpu(), "opt": opt.state_dict(),
            "best_mask": best_mask.cpu(), "best_pattern": best_pattern.cpu(), "sched": sched.state_dict(),
            "gen": gen.get_state(), "seconds": time.perf_counter() - start})
    # Labels that never reached the success threshold keep their last mask (the original's fallback).
    found = torch.from_numpy(np.isfinite(sched.reg_best)).to(device)
    with torch.no_grad():
        last_mask, last_pattern = _to_unit(mask_p), _to_unit(pattern_p)
        best_mask = torch.where(found.view(-1, 1, 1, 1), best_mask, last_mask)
        best_pattern = torch.where(found.view(-1, 1, 1, 1), best_pattern, last_pattern)
    saver.done(steps)  # removes the file; a resumed search's segments go to the harness (resume.take_resumed)
    return {"masks": best_mask, "patterns": best_pattern, "l1": best_mask.abs().sum((1, 2, 3)).cpu().tolist(),
            "found": found.cpu().tolist(), "steps": steps, "final_cost": sched.cost.tolist(),
            "seconds": time.perf_counter() - start}


def stamped_share(data: Data, mask: Tensor, pattern: Tensor, ratio: float, seed: int) -> Data:
    """Float copy of ``data`` where a seeded ``ratio`` of the rows carry the trigger; labels unchanged."""
    x = data.floats().clone()
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)[: int(round(ratio * len(data)))].to(x.device)
    x[idx] = stamp(x[idx], mask.to(x.device), pattern.to(x.device))
    return Data(x, data.y.clone())


def trigger_asr(model: nn.Module, test: Data, mask: Tensor, pattern: Tensor, label: int) -> float:
    """Share of held-out inputs of other labels that the trigger sends to ``label``."""
    others = test.subset(torch.nonzero(test.y != label).flatten())
    dev = next(model.parameters()).device
    m, p = mask.to(dev), pattern.to(dev)
    return accuracy(model, others, transform=lambda x: stamp(x, m, p), target=label)


class NeuralCleanse(Attack):
    name = "neural_cleanse"
    summary = "Neural Cleanse: reverse-engineer per-label triggers, MAD anomaly index, unlearning (Wang et al. 2019)"
    settings = {"detect_unlearn": {}}

    def config(self, ctx: AttackContext) -> dict[str, Any]:
        if ctx.setting not in self.settings:
            raise BadInput(f"unknown setting {ctx.setting!r} for attack {self.name}; known: {', '.join(self.settings)}")
        return {**PAPER, **PROFILE.get(ctx.task.profile, {}), **self.settings[ctx.setting], **ctx.params}

    def _measure(self, model: nn.Module, ctx: AttackContext) -> dict[str, Any]:
        owner = ctx.verify_owner(model)
        return {"nc_acc": accuracy(model, ctx.test), "wm_acc": float(owner.wm_acc), "verified": bool(owner.verified)}

    def run(self, victim: nn.Module, ctx: AttackContext) -> AttackResult:
        cfg = self.config(ctx)
        start = time.perf_counter()
        model = victim.to(ctx.device).eval()
        num_classes = int(getattr(model, "num_classes", ctx.task.num_classes))
        # Labels in chunks so K x batch stays bounded (Face has 1,283 labels); digit/traffic run in one chunk.
        chunk = int(cfg.get("label_chunk") or max(1, 4096 // cfg["batch_size"]))
        grads = [p.requires_grad for p in model.parameters()]
        for p in model.parameters():
            p.requires_grad_(False)  # only masks and patterns are optimised
        try:
            parts = [reverse_triggers(model, ctx.attacker, list(range(lo, min(lo + chunk, num_classes))), cfg,
                                      device=ctx.device, seed=ctx.seed + lo, checkpoint=ctx.checkpoint(f"search{lo}"))
                     for lo in range(0, num_classes, chunk)]
        finally:
            for p, g in zip(model.parameters(), grads):
                p.requires_grad_(g)
        reverse_s = sum(r["seconds"] for r in parts)  # a resumed search counts its earlier processes' time too
        start = time.perf_counter() - reverse_s
        masks = torch.cat([r["masks"] for r in parts])
        patterns = torch.cat([r["patterns"] for r in parts])
        l1 = [v for r in parts for v in r["l1"]]
        index = anomaly_index(l1)
        label = int(np.argmin(l1))
        flagged = bool(index > cfg["threshold"])
        target = ctx.scheme.backdoor_label(ctx.owner_key, ctx.task)  # y_W for null embedding, zhang's target
        if target is None and ctx.owner_key.params.get("target_label") is not None:  # a hand-made backdoor key
            target = int(ctx.owner_key.params["target_label"])
        mask, pattern = masks[label], patterns[label]

        before = {"epoch": 0, "step": 0, **self._measure(model, ctx), "reversed_asr": trigger_asr(model, ctx.test, mask, pattern, label)}
        lr = ctx.recipe.final_lr(ctx.train_size or len(ctx.attacker))
        recipe = ctx.recipe.replace(lr=lr, schedule="constant", lr_decay=0.0, warmup_steps=0,
                                    epochs=int(cfg["unlearn_epochs"]))
        unlearn = stamped_share(ctx.attacker, mask.cpu(), pattern.cpu(), float(cfg["unlearn_ratio"]), ctx.seed)
        log = train(model, unlearn, recipe, seed=ctx.seed, device=ctx.device, desc="neural_cleanse/unlearn",
                    callback=lambda epoch, step, m: {**self._measure(m, ctx),
                                                     "reversed_asr": trigger_asr(m, ctx.test, mask, pattern, label)})
        curve = [before, *log.curve]
        metrics = {
            "anomaly_index": index, "flagged": flagged, "flagged_label": label, "l1_norms": l1,
            "target_label": target, "flagged_correct": (flagged and label == target) if target is not None else None,
            "triggers_found": [f for r in parts for f in r["found"]], "nc_steps": max(r["steps"] for r in parts),
            "reverse_seconds": reverse_s, "seconds_per_label": reverse_s / num_classes,
            "reversed_asr_before": before["reversed_asr"], "reversed_asr_after": curve[-1]["reversed_asr"],
            "unlearn_epochs": recipe.epochs, "unlearn_lr": lr,
        }
        cost = Cost(epochs=log.epochs, samples=log.samples, steps=log.steps, seconds=time.perf_counter() - start)
        return AttackResult(model=model, metrics=metrics, curve=curve, cost=cost)
