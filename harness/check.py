"""Regression check of a new run against a baseline leaderboard (``bench check``).

Rows are matched on (task, arch, profile, scheme, attack, setting); values are
leaderboard means over seeds (accuracies as fractions). A matched row REGRESSES when
  - nc_acc_before drops by more than ``nc_tol`` percentage points (default 1.0),
  - wm_acc_before drops by more than ``wm_tol`` (default 0.05, as a fraction),
  - verified_before goes from >= 0.5 to < 0.5 (share of seeds verified),
  - a removal attack's verdict flips: verified_after from >= 0.5 to < 0.5
    (every attack but ``none`` and ``piracy``), or for piracy pirate_verified
    from < 0.5 to >= 0.5 (a forgery that used to fail now succeeds).
A value missing on either side is not compared. Rows only in the baseline are
listed as "not run"; they do not fail the check (a partial rerun is allowed).

A NEW scheme (absent from the baseline) is compared, row by row, against every
baseline scheme on the same task/arch/profile/attack/setting: the diff says where it
is better or worse (informational). By default it FAILS the check only if
  - it does not verify before the attack (verified_before < 0.5) on any row, or
  - its nc_acc_before is more than ``nc_tol`` points below the baseline ``none``
    model on the same task/arch/profile.
With ``strict_new=True`` it also fails where an attack removes its watermark (or
forges a pirate claim) although at least one baseline watermark scheme survives that
same attack setting.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.errors import BadInput
from harness.leaderboard import GROUP, LEADERBOARD_COLUMNS, leaderboard
from harness.report import isnum, open_store, verdict

REQUIRED = GROUP + ["nc_acc_before", "wm_acc_before", "verified_before", "verified_after", "pirate_verified"]
NUMERIC = ["nc_acc_before", "wm_acc_before", "verified_before", "nc_acc_after", "wm_acc_after", "verified_after",
           "pirate_wm_acc", "pirate_verified"]
TASK_KEY = ["task", "arch", "profile"]
EPS = 1e-9  # a drop of exactly the tolerance passes (CSV round-trips leave float noise)
ROW_KEY = TASK_KEY + ["attack", "setting"]


@dataclass
class Finding:
    status: str  # "REGRESSION", "FAIL-NEW", "worse", "mixed", "better", "not run"
    key: tuple[str, ...]  # GROUP values
    metric: str
    baseline: float | str
    new: float | str
    note: str = ""


@dataclass
class CheckResult:
    """``regressed`` drives the exit code (1); ``text`` is the readable diff."""

    regressed: bool
    findings: list[Finding] = field(default_factory=list)
    compared: int = 0
    new_schemes: list[str] = field(default_factory=list)
    text: str = ""

    def __str__(self) -> str:
        return self.text


def load_board(path: str | os.PathLike, what: str = "baseline") -> pd.DataFrame:
    """A leaderboard from a CSV, or built from a run folder's results.sqlite; BadInput on anything malformed."""
    p = Path(path)
    if p.is_dir() or p.name.endswith(".sqlite"):
        board = leaderboard(open_store(p).results())
    elif not p.is_file():
        raise BadInput(f"{what} not found: {p} (give a leaderboard CSV or a run folder with results.sqlite)")
    else:
        try:
            board = pd.read_csv(p, dtype={c: str for c in GROUP}, keep_default_na=False, na_values=["", "nan", "NaN"])
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise BadInput(f"{what} CSV {p} is not a readable CSV: {str(e).splitlines()[0]}") from None
    missing = [c for c in REQUIRED if c not in board.columns]
    if missing:
        raise BadInput(f"{what} {p} lacks leaderboard column(s): {', '.join(missing)}")
    board = board.copy()
    for c in GROUP:
        board[c] = board[c].fillna("").astype(str)
    for c in NUMERIC + [c for c in LEADERBOARD_COLUMNS if c in board and c not in GROUP and c not in NUMERIC]:
        if c not in board:
            board[c] = math.nan
            continue
        values = pd.to_numeric(board[c], errors="coerce")
        bad = values.isna() & board[c].notna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise BadInput(f"{what} {p}: column {c} has a non-numeric value {board[c].iloc[i]!r} (data row {i + 1})")
        board[c] = values
    dup = board.duplicated(GROUP)
    if dup.any():
        raise BadInput(f"{what} {p}: duplicate row for {'/'.join(board.loc[dup, GROUP].iloc[0])}")
    return board


def _drop(base: float, new: float) -> float:
    return base - new if isnum(base) and isnum(new) else math.nan


def _row_regressions(key: tuple, b: pd.Series, n: pd.Series, nc_tol: float, wm_tol: float) -> list[Finding]:
    out = []
    d = _drop(b["nc_acc_before"], n["nc_acc_before"])
    if d * 100 > nc_tol + EPS:
        out.append(Finding("REGRESSION", key, "nc_acc_before", b["nc_acc_before"], n["nc_acc_before"],
                           f"-{d * 100:.2f} pt > {nc_tol} pt"))
    d = _drop(b["wm_acc_before"], n["wm_acc_before"])
    if d > wm_tol + EPS:
        out.append(Finding("REGRESSION", key, "wm_acc_before", b["wm_acc_before"], n["wm_acc_before"],
                           f"-{d:.3f} > {wm_tol}"))
    flips = [("verified_before", True)]
    attack = key[GROUP.index("attack")]
    if attack == "piracy":
        flips.append(("pirate_verified", False))
    elif attack != "none":
        flips.append(("verified_after", True))
    for col, good_is_yes in flips:
        bv, nv = b[col], n[col]
        if isnum(bv) and isnum(nv) and (bv >= 0.5) != (nv >= 0.5) and (bv >= 0.5) == good_is_yes:
            out.append(Finding("REGRESSION", key, col, bv, nv, "verdict flipped"))
    return out


def _new_scheme(rows: pd.DataFrame, base: pd.DataFrame, nc_tol: float, wm_tol: float, strict: bool) -> list[Finding]:
    """Findings for a scheme the baseline does not have."""
    out, told = [], set()
    rows = rows.assign(_pref=(rows["attack"] != "none").astype(int)).sort_values(["_pref", *ROW_KEY])
    for _, n in rows.drop(columns="_pref").iterrows():
        key = tuple(n[c] for c in GROUP)
        model = tuple(n[c] for c in TASK_KEY)  # one trained model per task/arch/profile: say it once
        if isnum(n["verified_before"]) and n["verified_before"] < 0.5 and model not in told:
            told.add(model)
            out.append(Finding("FAIL-NEW", key, "verified_before", "", n["verified_before"],
                               "the new watermark does not verify before any attack"))
        same = base[(base[ROW_KEY] == pd.Series({c: n[c] for c in ROW_KEY})).all(axis=1)]
        ref = same[same["scheme"] == "none"]
        if ref.empty:  # the clean model's numbers are the same on every attack row of its task
            ref = base[(base[TASK_KEY] == pd.Series({c: n[c] for c in TASK_KEY})).all(axis=1) & (base["scheme"] == "none")]
        d = _drop(ref["nc_acc_before"].mean(), n["nc_acc_before"]) if len(ref) else math.nan
        if d * 100 > nc_tol + EPS and (model, "nc") not in told:
            told.add((model, "nc"))
            out.append(Finding("FAIL-NEW", key, "nc_acc_before", ref["nc_acc_before"].mean(), n["nc_acc_before"],
                               f"-{d * 100:.2f} pt vs baseline none > {nc_tol} pt"))
        mine = verdict(n.to_dict())
        survivors = []
        for _, b in same[same["scheme"] != "none"].iterrows():
            theirs = verdict(b.to_dict())
            when = "before" if n["attack"] == "none" else "after"  # an attack row compares the attack's outcome
            diff = lambda c: n[c] - b[c] if isnum(n[c]) and isnum(b[c]) else math.nan  # noqa: E731
            dn, dw = diff(f"nc_acc_{when}"), diff(f"wm_acc_{when}")
            if mine != theirs:
                better, worse = _rank(mine) > _rank(theirs), _rank(mine) < _rank(theirs)
            else:  # same verdict: differences beyond the tolerances only
                better = dw > wm_tol or dn * 100 > nc_tol
                worse = dw < -wm_tol or dn * 100 < -nc_tol
            if better or worse:
                status = "mixed" if better and worse else "better" if better else "worse"
                out.append(Finding(status, key, f"vs {b['scheme']}", theirs, mine,
                                   f"NC {when} {dn * 100:+.2f} pt, WM {when} {dw:+.3f}"))
            if theirs in ("robust", "destroyed"):
                survivors.append(b["scheme"])
        if strict and survivors and mine in ("removed", "forged"):
            out.append(Finding("FAIL-NEW", key, "verdict", ", ".join(survivors), mine,
                               "baseline scheme(s) survive this attack (--strict-new)"))
    return out


def _collapse(findings: list[Finding]) -> list[Finding]:
    """One line for what repeats on every attack row of a model ("before" numbers, a scheme not rerun)."""
    groups: dict[tuple, list[Finding]] = {}
    rest = []
    for f in findings:
        if f.status == "not run" or (f.status == "REGRESSION" and f.metric.endswith("_before")):
            model = f.key[:GROUP.index("attack")]
            groups.setdefault((f.status, model, f.metric, _fmt(f.baseline), _fmt(f.new), f.note), []).append(f)
        else:
            rest.append(f)
    for (status, model, metric, *_), fs in groups.items():
        if len(fs) == 1:
            rest.append(fs[0])
        else:
            rest.append(Finding(status, (*model, "*", f"({len(fs)} rows)"), metric, fs[0].baseline, fs[0].new, fs[0].note))
    return rest


def _rank(v: str) -> int:
    """Owner's view: robust/verified best, then destroyed (attack useless), removed, forged, unverified."""
    return {"verified": 4, "robust": 4, "destroyed": 3, "n/a": 2, "removed": 1, "forged": 0, "unverified": -1}.get(v, 2)


def _fmt(v: float | str) -> str:
    return f"{v:.4f}" if isnum(v) else (str(v) if v != "" else "—")


def render(findings: list[Finding], compared: int, new_schemes: list[str], regressed: bool,
           tolerances: str) -> str:
    """A fixed-width diff table plus a one-line verdict."""
    head = ["status", "task", "arch", "profile", "scheme", "attack", "setting", "metric", "baseline", "new", "note"]
    rows = [[f.status, *f.key, f.metric, _fmt(f.baseline), _fmt(f.new), f.note] for f in findings]
    lines = [f"bench check: compared {compared} row(s) present in both; tolerances: {tolerances}"]
    if new_schemes:
        lines.append(f"new scheme(s) not in the baseline: {', '.join(new_schemes)} (compared against every baseline scheme)")
    if rows:
        widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
        fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        lines += ["", fmt(head), fmt(["-" * w for w in widths]), *map(fmt, rows)]
    n_bad = sum(f.status in ("REGRESSION", "FAIL-NEW") for f in findings)
    lines += ["", f"RESULT: {'REGRESSED' if regressed else 'OK'} ({n_bad} failing finding(s))"]
    return "\n".join(lines)


def check(baseline_csv: str | os.PathLike, new: str | os.PathLike, nc_tol: float = 1.0, wm_tol: float = 0.05,
          strict_new: bool = False) -> CheckResult:
    """Compare ``new`` (run folder or leaderboard CSV) with the baseline leaderboard CSV; see the module doc."""
    base = load_board(baseline_csv, "baseline")
    cur = load_board(new, "new results")
    findings: list[Finding] = []
    merged = base.merge(cur, on=GROUP, how="outer", suffixes=("_b", "_n"), indicator=True)
    base_schemes = set(base["scheme"])
    compared = 0
    for _, r in merged.iterrows():
        key = tuple(r[c] for c in GROUP)
        if r["_merge"] == "both":
            compared += 1
            b = pd.Series({c: r[f"{c}_b"] for c in NUMERIC})
            n = pd.Series({c: r[f"{c}_n"] for c in NUMERIC})
            findings += _row_regressions(key, b, n, nc_tol, wm_tol)
        elif r["_merge"] == "left_only":
            findings.append(Finding("not run", key, "", "", "", "in the baseline only"))
    new_schemes = sorted(set(cur["scheme"]) - base_schemes)
    for scheme in new_schemes:
        findings += _new_scheme(cur[cur["scheme"] == scheme], base, nc_tol, wm_tol, strict_new)
    findings = _collapse(findings)
    order = {"REGRESSION": 0, "FAIL-NEW": 1, "worse": 2, "mixed": 3, "better": 4, "not run": 5}
    findings.sort(key=lambda f: (order.get(f.status, 5), f.key, f.metric))
    regressed = any(f.status in ("REGRESSION", "FAIL-NEW") for f in findings)
    tol = f"nc_tol={nc_tol} pt, wm_tol={wm_tol}" + (", strict-new" if strict_new else "")
    return CheckResult(regressed, findings, compared, new_schemes, render(findings, compared, new_schemes, regressed, tol))
