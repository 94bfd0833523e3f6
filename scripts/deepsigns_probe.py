"""DeepSigns embedding, epoch by epoch: BER and how far the key images' mean activation is from its centre.

    WMBENCH_DATA=../shared/datasets python scripts/deepsigns_probe.py [--task digit] [--profile quick] [--seed 0]

Prints, after every epoch: BER, the distance between the key images' mean penultimate activation
and the target class's trainable centre, the centre's norm, and the smallest bit margins
|A c| (what l4 trains) and |A mean(act)| (what verification reads). Diagnostic only; it trains
with the same hooks and recipe as `bench run`, and writes nothing.
"""
from __future__ import annotations

import argparse

import torch

from harness.evaluate import accuracy
from harness.trainer import train
from schemes import get_scheme
from schemes.deepsigns import key_images, penultimate, projection
from tasks import get_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="digit")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
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
