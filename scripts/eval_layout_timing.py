"""CPU evaluation throughput by batch size and memory layout (the numbers in benchmarks/PERF_NOTES.md).

    WMBENCH_DATA=../shared/datasets OMP_NUM_THREADS=2 python scripts/eval_layout_timing.py [--tasks traffic,digit]

Untrained models, 4,000 test images; images/s for contiguous and channels-last inputs at several
batch sizes. One-off diagnostic; run it on an idle machine.
"""
from __future__ import annotations

import argparse
import time

import torch

from tasks import get_task


@torch.no_grad()
def rate(model: torch.nn.Module, x: torch.Tensor, batch: int, channels_last: bool) -> float:
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        model(xb.contiguous(memory_format=torch.channels_last) if channels_last else xb).argmax(1)
    return len(x) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="traffic,digit")
    args = ap.parse_args()
    for name in args.tasks.split(","):
        task = get_task(name, profile="quick")
        x = task.data("test").take(4000, seed=0).floats()
        model = task.model().eval()
        rate(model, x[:256], 128, False)  # warm-up
        for channels_last in (False, True):
            for batch in (64, 128, 256, 1024):
                layout = "channels-last" if channels_last else "contiguous"
                print(f"{name:8s} {layout:13s} batch {batch:5d}: {rate(model, x, batch, channels_last):8.0f} images/s")


if __name__ == "__main__":
    main()
