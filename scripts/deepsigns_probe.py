"""DeepSigns embedding, epoch by epoch: BER and how far the key images' mean activation is from its centre.

    WMBENCH_DATA=../shared/datasets python scripts/deepsigns_probe.py [--task digit] [--profile quick] [--seed 0]
        [--l1 public] [--l2 cosine]

Prints, after every epoch: BER, the distance between the key images' mean penultimate activation
and the target class's trainable centre, the centre's norm, and the smallest bit margins
|A c| (what l4 trains) and |A mean(act)| (what verification reads). Diagnostic only; it trains
with the same hooks and recipe as `bench run`, and writes nothing. ``--l1 public`` swaps in the
public port's l1 (mean squared error of every row to its class centre) and ``--l2 cosine`` the
scheme's version-1 separation term (true cosine), to rerun the ablations in schemes/deepsigns.py.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from harness.evaluate import accuracy
from harness.trainer import train
from schemes import get_scheme
from schemes.deepsigns import DeepSignsHooks, key_images, penultimate, projection
from tasks import get_task


def ablate(l1_form: str, l2_form: str) -> None:
    """Swap the scheme's l1 / l2 for the public port's l1 or the version-1 (true cosine) l2."""
    if l1_form == "public":
        DeepSignsHooks.pull = lambda self, act, y, c: F.mse_loss(act, c[y])
    if l2_form == "cosine":
        DeepSignsHooks.separation = lambda self, c, near: (
            ((c - near) ** 2).sum(1) * (F.cosine_similarity(c, near, dim=1) - 1)).sum()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="digit")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--l1", choices=["scheme", "public"], default="scheme")
    ap.add_argument("--l2", choices=["scheme", "cosine"], default="scheme")
    args = ap.parse_args()
    ablate(args.l1, args.l2)
    task = get_task(args.task, profile=args.profile)
    scheme = get_scheme("deepsigns")
    key = scheme.keygen(task, args.seed)
    p = key.params
    a = projection(len(p["bits"]), p["dim"], p["a_seed"])
    torch.manual_seed(args.seed)
    model = task.model()
    hooks = scheme.hooks(key, task)
    test = task.data("test")

    def report(epoch: int, step: int, model: torch.nn.Module) -> dict:
        v = scheme.verify(model, key, task, test)
        act = penultimate(model, key_images(key, task).floats()).cpu().mean(0)
        centre = hooks[0].centres.detach().cpu()[p["target"]]
        print(f"epoch {epoch} step {step}: ber {v.ber:.4f}  |act - centre| {float((act - centre).norm()):.3f}  "
              f"|centre| {float(centre.norm()):.2f}  min|A centre| {float((a @ centre).abs().min()):.3f}  "
              f"min|A act| {float((a @ act).abs().min()):.3f}", flush=True)
        return {}

    train(model, task.data("train"), task.recipe, hooks=hooks, seed=args.seed, callback=report, desc="deepsigns")
    print(f"nc {accuracy(model, test):.4f}")


if __name__ == "__main__":
    main()
