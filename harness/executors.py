"""Optional Ray executor: each job (one owner model and its attack cells) is a Ray task with its GPU request."""
from __future__ import annotations

import os
from typing import Iterator

import torch

from harness.errors import BadInput


def run_ray(spec, groups, address: str | None = None) -> Iterator[int]:
    try:
        import ray
    except ImportError:
        raise BadInput("--executor ray needs Ray: pip install 'wmbench[cluster]'") from None
    from harness.grid import run_job_in_worker

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline clusters: no usage report
    if not ray.is_initialized():
        ray.init(address=address or None, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    gpus = 1 if torch.cuda.is_available() else 0
    remote = ray.remote(num_gpus=gpus, num_cpus=1)(run_job_in_worker)
    refs = [remote.remote(spec, g) for g in groups]
    while refs:
        ready, refs = ray.wait(refs, num_returns=1)
        yield ray.get(ready[0])
