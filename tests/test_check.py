"""bench check: regressions against a baseline leaderboard, new schemes, bad baselines."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from _report_fixture import fill_store
from harness.check import check
from harness.errors import BadInput
from harness.leaderboard import write_leaderboard


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    root = tmp_path_factory.mktemp("check")
    store = fill_store(root / "run")
    board = write_leaderboard(store.results(), root / "leaderboard.csv")
    store.close()
    return root, board


def _write(board: pd.DataFrame, path) -> str:
    board.to_csv(path, index=False)
    return str(path)


def test_unchanged_copy_passes(baseline, tmp_path):
    root, _ = baseline
    shutil.copy(root / "leaderboard.csv", tmp_path / "copy.csv")
    res = check(root / "leaderboard.csv", tmp_path / "copy.csv")
    assert not res.regressed and res.compared == 44 and "RESULT: OK" in res.text
    # a run folder (results.sqlite) is read the same way
    res = check(root / "leaderboard.csv", root / "run")
    assert not res.regressed and res.compared == 44


def test_weakened_wm_and_flipped_verdicts_regress(baseline, tmp_path):
    root, board = baseline
    weak = board.copy()
    weak.loc[weak["scheme"] == "adi", "wm_acc_before"] -= 0.06  # just past wm_tol = 0.05
    ft = (weak["scheme"] == "uchida") & (weak["attack"] == "finetune")
    weak.loc[ft, "verified_after"] = 0.0
    pir = (weak["scheme"] == "null_embedding") & (weak["attack"] == "piracy") & (weak["setting"] == "paper")
    weak.loc[pir, "pirate_verified"] = 1.0
    res = check(root / "leaderboard.csv", _write(weak, tmp_path / "weak.csv"))
    assert res.regressed and "RESULT: REGRESSED" in res.text
    bad = {(f.key[3], f.key[4], f.metric) for f in res.findings if f.status == "REGRESSION"}
    assert bad == {("adi", "*", "wm_acc_before"), ("uchida", "finetune", "verified_after"),
                   ("null_embedding", "piracy", "pirate_verified")}
    line = next(x for x in res.text.splitlines() if x.startswith("REGRESSION") and " adi " in x)
    assert "wm_acc_before" in line and "1.0000" in line and "0.9400" in line


def test_tolerances(baseline, tmp_path):
    root, board = baseline
    b = board.copy()
    b.loc[b["scheme"] == "uchida", "nc_acc_before"] -= 0.009  # 0.9 pt < 1.0 pt
    assert not check(root / "leaderboard.csv", _write(b, tmp_path / "a.csv")).regressed
    b.loc[b["scheme"] == "uchida", "nc_acc_before"] -= 0.002  # 1.1 pt
    res = check(root / "leaderboard.csv", _write(b, tmp_path / "b.csv"))
    assert res.regressed and any(f.metric == "nc_acc_before" and f.key[3] == "uchida" for f in res.findings)
    assert not check(root / "leaderboard.csv", tmp_path / "b.csv", nc_tol=2.0).regressed
    # a partial rerun (rows missing) is listed, not failed
    res = check(root / "leaderboard.csv", _write(board[board["scheme"] != "adi"], tmp_path / "c.csv"))
    assert not res.regressed and "not run" in res.text


def test_new_scheme_compared_with_every_baseline_scheme(baseline, tmp_path):
    root, board = baseline
    new = board[board["scheme"] == "null_embedding"].copy()
    new["scheme"] = "mine"
    res = check(root / "leaderboard.csv", _write(pd.concat([board, new]), tmp_path / "new.csv"))
    assert res.new_schemes == ["mine"] and not res.regressed  # as good as null embedding: passes
    vs = {(f.key[4], f.metric, f.status) for f in res.findings if f.key[3] == "mine"}
    assert ("piracy", "vs adi", "better") in vs  # adi is forged, mine is not
    assert ("finetune", "vs adi", "better") in vs
    # strict: an attack that removes mine while a baseline scheme survives fails
    new.loc[new["attack"] == "finetune", "verified_after"] = 0.0
    path = _write(pd.concat([board, new]), tmp_path / "new2.csv")
    assert not check(root / "leaderboard.csv", path).regressed
    res = check(root / "leaderboard.csv", path, strict_new=True)
    assert res.regressed and any(f.status == "FAIL-NEW" and f.metric == "verdict" for f in res.findings)


def test_new_scheme_that_does_not_verify_or_costs_nc_fails(baseline, tmp_path):
    root, board = baseline
    new = board[board["scheme"] == "null_embedding"].copy()
    new["scheme"] = "broken"
    new["verified_before"] = 0.0
    new["nc_acc_before"] = 0.95  # 3.1 pt below the baseline's watermark-free model
    res = check(root / "leaderboard.csv", _write(new, tmp_path / "broken.csv"))
    assert res.regressed
    fails = [f for f in res.findings if f.status == "FAIL-NEW"]
    assert {f.metric for f in fails} == {"verified_before", "nc_acc_before"} and len(fails) == 2
    assert "broken" in res.text


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p.unlink(), "baseline not found"),
    (lambda p: p.write_text(""), "not a readable CSV"),
    (lambda p: p.write_text(p.read_text().replace("wm_acc_before,", "wm_acc_b4,", 1)), "lacks leaderboard column"),
    (lambda p: p.write_text(p.read_text().replace("\ndigit,cnn,smoke,adi,none,default,2,0.98,",
                                                  "\ndigit,cnn,smoke,adi,none,default,2,oops,", 1)), "non-numeric"),
])
def test_bad_baseline_is_one_line_bad_input(baseline, tmp_path, mutate, message):
    root, _ = baseline
    path = tmp_path / "base.csv"
    shutil.copy(root / "leaderboard.csv", path)
    mutate(path)
    with pytest.raises(BadInput, match=message) as err:
        check(path, root / "run")
    assert "\n" not in str(err.value)


def test_missing_new_results_is_bad_input(baseline, tmp_path):
    root, _ = baseline
    with pytest.raises(BadInput, match="no results store"):
        check(root / "leaderboard.csv", tmp_path)
