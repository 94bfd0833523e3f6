"""Ownership piracy (Li et al. sections 4 and 7.2): embed the attacker's own watermark into the stolen model.

Generic over schemes: the attacker makes its own key(s) with ``ctx.scheme.keygen`` and
re-embeds with the scheme's own training hooks on the attacker split. The claim fails
for the owner if the pirate watermark verifies while the model keeps its accuracy.

Settings (the leaderboard ``setting``):
- ``paper``: the paper's protocol: the owner's recipe continued at its last learning rate
  (constant), the paper's epochs per task and scheme, the attacker split.
- adaptive (DESIGN.md section 9: the outcome depends on the optimiser): ``adam``
  (Adam 1e-3), ``adam_lr1e-4``, ``clip`` (SGD momentum 0.9, lr 0.01, grad clip 1.0),
  ``low_lr`` (last lr / 10), ``data20k`` / ``data_all`` (more of the owner's training
  data: needs ``ctx.extra["train"]``), ``epochs_x4``.
- cost curves (paper Fig. 2): ``cost_curve_all`` / ``cost_curve_1pct``: one pirate key,
  all / 1% of the training data, a curve row every ``curve_every`` steps for
  ``curve_steps`` steps.

Attack params (``ctx.params``): ``pirate_keys`` (default by profile: smoke 2, quick 10,
paper 100; the paper averages 100), ``epochs`` (overrides the setting's epochs),
``curve_steps``, ``curve_every``.
"""
from __future__ import annotations

import copy
import hashlib
import math
import statistics
from typing import Any

import numpy as np
from torch import nn

from attacks.base import Attack, AttackContext
from harness.device import device_label
from harness.errors import BadInput
from harness.evaluate import accuracy
from harness.resume import RESUMED, global_rng, set_global_rng
from harness.trainer import train
from harness.types import AttackResult, Cost, Key, Verification
from tasks.base import Data, Recipe

DEFAULT_KEYS = {"smoke": 2, "quick": 10, "paper": 100}
CURVE_STEPS = {"smoke": 20, "quick": 2000, "paper": 20000}


def pirate_seed(seed: int, index: int) -> int:
    """The attacker's own seed for key ``index``: derived from the run's seed, unlike any owner seed."""
    return int.from_bytes(hashlib.sha256(f"wmbench-piracy|{seed}|{index}".encode()).digest()[:4], "big")


class Piracy(Attack):
    name = "piracy"
    summary = "attacker embeds its own watermark with the same scheme (Li et al. 7.2)"
    settings: dict[str, dict[str, Any]] = {
        "paper": {},
        "adam": {"optimizer": "adam", "lr": 1e-3},
        "adam_lr1e-4": {"optimizer": "adam", "lr": 1e-4},
        "clip": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "grad_clip": 1.0},
        "low_lr": {"lr_scale": 0.1},
        "data20k": {"data": 20000},
        "data_all": {"data": "all"},
        "epochs_x4": {"epochs_scale": 4},
        "cost_curve_all": {"data": "all", "curve": True},
        "cost_curve_1pct": {"data": 0.01, "curve": True},
    }
    default_settings = ("paper",)

    def run(self, victim: nn.Module, ctx: AttackContext) -> AttackResult:
        if ctx.setting not in self.settings:
            raise BadInput(f"unknown piracy setting {ctx.setting!r}; known: {', '.join(self.settings)}")
        spec = self.settings[ctx.setting]
        data = self._data(ctx, spec)
        recipe = self._recipe(ctx, spec, len(data))
        curve_every = None
        if spec.get("curve"):
            curve_every = int(ctx.params.get("curve_every") or max(1, self._curve_steps(ctx) // 20))
        n_keys = int(ctx.params.get("pirate_keys", 1 if spec.get("curve") else DEFAULT_KEYS.get(ctx.task.profile, 10)))
        if n_keys < 1:
            raise BadInput(f"pirate_keys must be >= 1, got {n_keys}")

        nc_before = accuracy(victim, ctx.test)
        owner_before = ctx.verify_owner(victim)
        rows: list[dict[str, Any]] = []
        cost, curve, first_model = Cost(), [], None
        max_grad_norm = 0.0
        for i in range(n_keys):
            key, seed = self._pirate_key(ctx, i)
            # a key finished by an earlier, killed run of this cell is read back, not trained again
            fingerprint = {"recipe": recipe.as_dict(), "rows": len(data), "seed": seed, "key": key.fingerprint(),
                           "curve_every": curve_every}
            record = ctx.load_part(f"key{i}", fingerprint)
            if record is None:
                record = self._pirate(victim, ctx, key, seed, data, recipe, i, n_keys, curve_every, fingerprint)
                if i == 0:
                    first_model = record.pop("model")
            else:
                RESUMED[str(ctx.checkpoint(f"key{i}"))] = record["segments"]  # the row names where it ran
                set_global_rng(record["rng"])  # the next key starts from the stream it would have had
                if i == 0:
                    first_model = ctx.load_part_model(f"key{i}", copy.deepcopy(victim))
            curve += record["curve"]
            for name, value in record["cost"].items():
                setattr(cost, name, getattr(cost, name) + value)
            max_grad_norm = max(max_grad_norm, record["max_grad_norm"])
            rows.append({name: Verification(**v) if isinstance(v, dict) else v for name, v in record["row"].items()})
        ctx.discard_parts()
        metrics = self._summarise(rows, nc_before, owner_before)
        metrics.update({"pirate_keys": n_keys, "attacker_rows": len(data), "pirate_optimizer": recipe.optimizer,
                        "pirate_lr": recipe.lr, "pirate_epochs": recipe.epochs, "pirate_grad_clip": recipe.grad_clip,
                        # the largest pre-clip gradient norm any pirate step saw (0 when nothing clips)
                        "pirate_max_grad_norm": max_grad_norm})
        # The row's after-attack numbers are means over ALL pirate keys, not the first key's model:
        # nc and the owner's wm_acc averaged, "verified" the share of keys after which the owner still verifies.
        owner = Verification(wm_acc=metrics["owner_wm_acc_mean"], verified=metrics["owner_verified_share"] >= 0.5,
                             details={"owner_verified_share": metrics["owner_verified_share"]})
        return AttackResult(model=first_model, metrics=metrics, curve=curve, cost=cost,
                            nc_acc=metrics["nc_acc_after_mean"], owner=owner)

    # --- pieces ------------------------------------------------------------------------

    def _pirate(self, victim: nn.Module, ctx: AttackContext, key: Key, seed: int, data: Data, recipe: Recipe,
                i: int, n_keys: int, curve_every: int | None, fingerprint: dict[str, Any]) -> dict[str, Any]:
        """Train and measure pirate key ``i``; its record is kept until the cell is stored (save_part)."""
        pirate_before = ctx.scheme.verify(victim, key, ctx.task, ctx.test)
        model = copy.deepcopy(victim)
        callback, curve = None, []
        if i == 0:  # the first key's model and curve stand for the cell
            callback = self._callback(ctx, key)
            curve.append({"epoch": 0, "step": 0, **callback(0, 0, victim)})
        log = train(model, data, recipe, hooks=ctx.scheme.hooks(key, ctx.task), seed=seed, device=ctx.device,
                    callback=callback, eval_every=curve_every, desc=f"piracy {i + 1}/{n_keys}",
                    checkpoint=ctx.checkpoint(f"key{i}"))
        row = {"nc": accuracy(model, ctx.test), "owner": ctx.verify_owner(model).as_dict(),
               "pirate": ctx.scheme.verify(model, key, ctx.task, ctx.test).as_dict(), "pirate_before": pirate_before.as_dict()}
        record = ctx.save_part(f"key{i}", {
            "fingerprint": fingerprint, "row": row, "curve": curve + log.curve if i == 0 else [],
            "cost": {"epochs": log.epochs, "samples": log.samples, "steps": log.steps, "seconds": log.seconds},
            "max_grad_norm": log.max_grad_norm, "rng": global_rng(),
            "segments": log.resumed or [{"device": device_label(ctx.device), "epochs": [0, log.epochs]}]},
            model if i == 0 else None)
        return {**record, "model": model} if i == 0 else record

    @staticmethod
    def _pirate_key(ctx: AttackContext, index: int) -> tuple[Key, int]:
        seed = pirate_seed(ctx.seed, index)
        key = ctx.scheme.keygen(ctx.task, seed=seed)
        while key.fingerprint() == ctx.owner_key.fingerprint():  # never "pirate" with the owner's own key
            seed += 1
            key = ctx.scheme.keygen(ctx.task, seed=seed)
        return key, seed

    @staticmethod
    def _data(ctx: AttackContext, spec: dict[str, Any]) -> Data:
        want = spec.get("data")
        if want is None:
            return ctx.attacker
        full = ctx.extra.get("train")
        if full is None:
            raise BadInput(f"piracy setting {ctx.setting!r} needs the owner's training split "
                           "(the harness passes it as ctx.extra['train'])")
        if want == "all":
            return full
        rows = max(1, round(want * len(full))) if isinstance(want, float) else int(want)
        return full.take(rows, seed=ctx.seed + 7)

    def _curve_steps(self, ctx: AttackContext) -> int:
        return int(ctx.params.get("curve_steps") or CURVE_STEPS.get(ctx.task.profile, 2000))

    def _recipe(self, ctx: AttackContext, spec: dict[str, Any], rows: int) -> Recipe:
        owner = ctx.recipe
        n_train = ctx.train_size or (len(ctx.extra["train"]) if "train" in ctx.extra else len(ctx.task.data("train")))
        epochs = ctx.task.piracy_epochs_for(ctx.scheme.base_name) * int(spec.get("epochs_scale", 1))
        if spec.get("curve"):
            epochs = math.ceil(self._curve_steps(ctx) / math.ceil(rows / owner.batch_size))
        epochs = int(ctx.params.get("epochs", epochs))
        recipe = owner.replace(lr=owner.final_lr(n_train) * spec.get("lr_scale", 1.0), schedule="constant",
                               lr_decay=0.0, warmup_steps=0, epochs=epochs)
        if "optimizer" in spec:  # adaptive settings replace the optimiser, keep batch size and weight decay
            recipe = recipe.replace(optimizer=spec["optimizer"], lr=spec["lr"], momentum=spec.get("momentum", 0.0),
                                    grad_clip=spec.get("grad_clip"))
        return recipe

    @staticmethod
    def _callback(ctx: AttackContext, key: Key):
        def row(epoch: int, step: int, model: nn.Module) -> dict[str, Any]:
            owner = ctx.verify_owner(model)
            pirate = ctx.scheme.verify(model, key, ctx.task, ctx.test)
            return {"nc_acc": accuracy(model, ctx.test), "owner_wm_acc": owner.wm_acc, "pirate_wm_acc": pirate.wm_acc,
                    "owner_verified": owner.verified, "pirate_verified": pirate.verified}
        return row

    @staticmethod
    def _summarise(rows: list[dict[str, Any]], nc_before: float, owner_before: Verification) -> dict[str, Any]:
        def mean(xs: list[float]) -> float:
            return float(statistics.fmean(xs)) if xs else float("nan")

        def std(xs: list[float]) -> float:
            # population std; NaN-safe (statistics.pstdev crashes on NaN, e.g. for scheme `none`)
            return float(np.std(np.asarray(xs, dtype=float))) if len(xs) > 1 else 0.0

        nc = [r["nc"] for r in rows]
        pirate = [r["pirate"] for r in rows]
        owner = [r["owner"] for r in rows]
        p_values = [v.p_value for v in pirate if v.p_value is not None]
        out: dict[str, Any] = {
            "nc_acc_before": nc_before, "owner_wm_acc_before": owner_before.wm_acc,
            "pirate_wm_acc_before_mean": mean([r["pirate_before"].wm_acc for r in rows]),
            "pirate_wm_acc": mean([v.wm_acc for v in pirate]), "pirate_wm_acc_std": std([v.wm_acc for v in pirate]),
            "pirate_verified": mean([float(v.verified) for v in pirate]),
            "owner_wm_acc_mean": mean([v.wm_acc for v in owner]), "owner_wm_acc_std": std([v.wm_acc for v in owner]),
            "owner_verified_share": mean([float(v.verified) for v in owner]),
            "nc_acc_after_mean": mean(nc), "nc_acc_after_std": std(nc),
            "pirate_p_value_median": float(statistics.median(p_values)) if p_values else None,
        }
        # Numeric details every scheme reports (e.g. null_acc / true_acc, ber), averaged without knowing the scheme.
        for who, vs in (("pirate", pirate), ("owner", owner)):
            for name in vs[0].details:
                vals = [v.details.get(name) for v in vs]
                if all(isinstance(x, float) for x in vals):
                    out[f"{who}_{name}_mean"] = mean(vals)
        return out
