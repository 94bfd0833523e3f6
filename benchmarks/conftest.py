"""pytest-benchmark suites: `python -m pytest benchmarks/ --benchmark-only` (not part of the default test run).

Each benchmark records its ratios and absolute figures with the ``perf`` fixture; at the
end of the session they are merged into ``benchmarks/perf_results.json`` (override with
WMBENCH_PERF_JSON), from which ``scripts/perf_report.py`` writes results/PERF.md.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

import pytest
import torch

from harness.device import cpu_model

torch.set_num_threads(int(os.environ.get("WMBENCH_BENCH_THREADS", min(2, os.cpu_count() or 1))))
os.environ.setdefault("WMBENCH_PROGRESS", "0")

PERF_JSON = Path(os.environ.get("WMBENCH_PERF_JSON", Path(__file__).with_name("perf_results.json")))
_RECORDS: dict[str, dict[str, Any]] = {}


def device_info() -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "gpu": torch.cuda.get_device_name(0) if cuda else None,
            "loadavg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


@pytest.fixture
def perf(request):
    """``perf(**fields)`` stores one record under the test's name (ratios, absolute figures, settings)."""

    def record(**fields: Any) -> None:
        _RECORDS[request.node.name] = {**fields, "device": device_info(),
                                       "measured": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}

    return record


@pytest.fixture
def bench_device() -> torch.device:
    from harness.device import pick_device

    return pick_device()


def pytest_sessionfinish(session, exitstatus):
    if not _RECORDS:
        return
    old = {}
    if PERF_JSON.is_file():
        try:
            old = json.loads(PERF_JSON.read_text())
        except json.JSONDecodeError:
            old = {}
    old.update(_RECORDS)
    tmp = PERF_JSON.with_name(f".{PERF_JSON.name}.tmp")
    tmp.write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, PERF_JSON)
