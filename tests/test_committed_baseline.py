"""Issue 10's acceptance check: a fresh `quick` run passes `bench check` against the committed baseline.

Runs the shipped digit-mini task (no data folder needed) for the clean model, null embedding and
Zhang, each unattacked and under magnitude pruning, and checks the rows against
`results/leaderboard.csv`, which holds the same cells from the reference run.
"""
from __future__ import annotations

from pathlib import Path

from harness.check import check
from harness.grid import GridSpec, run_grid

BASELINE = Path(__file__).resolve().parents[1] / "results" / "leaderboard.csv"


def test_fresh_quick_run_passes_the_committed_baseline(tmp_path):
    spec = GridSpec(tasks=["digit-mini"], schemes=["none", "null_embedding", "zhang"], attacks=["none", "pruning"],
                    settings={"pruning": ["magnitude"]}, profile="quick", seeds=[0], out=str(tmp_path / "run"))
    run_grid(spec)
    res = check(BASELINE, tmp_path / "run")
    assert not res.regressed, res.text
    assert res.compared == 6 and res.new_schemes == [], res.text  # every fresh row met its baseline row
