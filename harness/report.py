"""Paper-style markdown tables from a results store (``bench report``).

Every table is built from the store's per-seed rows (means over seeds) and is
preceded by the command, profile, seeds, device and code version of exactly the
rows it shows, so any number can be traced to the run that made it. The same
``Table`` objects feed ``tables.md`` and the HTML page (harness/html.py).

Accuracies are stored as fractions and printed as percentages. A share of seeds
that verified is printed as ✓ when >= 0.5, else ✗; where the seeds split, the count
follows (``✓ 2/3``: two of three seeds verified; ``✓ 67%`` for a share of pirate keys), so a
majority never reads as unanimous.

Verdict of one (scheme, attack) cell, shared with the HTML matrix and ``bench check``:
  unverified  the owner watermark did not verify before the attack (e.g. scheme ``none``)
  verified    no attack (``none``) and the watermark verifies
  destroyed   the attack cost more than 5 pt of NC (the attacker lost the model; transfer
              is exempt because its student solves another task)
  forged      piracy: the pirate's claim verifies on a model that still works
  removed     the owner watermark no longer verifies and NC is within 5 pt
  robust      the owner watermark still verifies and nothing was forged
"""
from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from harness.errors import BadInput
from harness.leaderboard import GROUP, atomic_write_text, leaderboard, parse_metrics
from harness.store import DB_NAME, Store

DESTROYED_DROP = 0.05  # fraction of NC; "model destroyed" beyond this drop
TASK_KEYS = ["task", "arch", "profile"]
ATTACK_ORDER = ["none", "piracy", "finetune", "pruning", "neural_cleanse", "extraction", "transfer", "corruption"]
SETTING_ORDER = ["default", "none", "paper", "adam", "clip", "low_lr", "data20k", "data_all", "epochs_x4", "cost_curve_all",
                 "cost_curve_1pct", "ftll", "ftal", "rtll", "rtal", "paper_accuracy", "magnitude", "fine_pruning",
                 "detect_unlearn", "n1000", "n5000", "n10000", "ood_noise", "added", "last_two", "dense", "all"]
TRANSFER_MODES = ["added", "last_two", "dense", "all"]


@dataclass
class Table:
    """One rendered table: formatted string cells plus where its numbers came from."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    provenance: list[str] = field(default_factory=list)
    note: str = ""
    task: str = ""
    profile: str = ""

    def markdown(self) -> str:
        esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        out = [f"### {self.title}", ""]
        out += [f"> {line}  " for line in self.provenance]
        if self.provenance:
            out.append("")
        out.append("| " + " | ".join(esc(c) for c in self.columns) + " |")
        out.append("|" + "---|" * len(self.columns))
        out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in self.rows]
        if self.note:
            out += ["", self.note]
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------- formatting


def isnum(x: Any) -> bool:
    """A finite real number, numpy scalars included (pandas hands over numpy ints), booleans excluded."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def pct(x: Any, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}" if isnum(x) else "—"


def pct_std(mean: Any, std: Any, digits: int = 2) -> str:
    return pct(mean, digits) + (f" ± {100 * std:.{digits}f}" if isnum(std) and std > 0 else "")


def num(x: Any, digits: int = 2) -> str:
    return f"{x:.{digits}f}" if isnum(x) else "—"


def mark(share: Any, seeds: Any = None) -> str:
    """✓/✗ for a share of seeds; a split share adds "k/n" of the seeds, or a percentage.

    Callers pass no ``seeds`` for shares that do not count seeds, e.g. piracy's ``pirate_verified``
    (a share of pirate keys within each seed, then a mean over seeds): those print as a percentage.
    """
    if not isnum(share):
        return "—"
    word = "✓" if share >= 0.5 else "✗"
    if 0 < share < 1:
        k = share * seeds if isnum(seeds) and seeds > 1 else None
        whole = k is not None and abs(k - round(k)) < 1e-6
        word += f" {round(k)}/{int(seeds)}" if whole else f" {100 * share:.0f}%"
    return word


def attack_metric(row: Mapping[str, Any], key: str) -> Any:
    """An attack's own number (``m.<key>``, e.g. student_acc, substitute_nc_acc), else the cell's nc_acc_after."""
    value = row.get(f"m.{key}")
    return value if isnum(value) else row.get("nc_acc_after")


def verdict(row: Mapping[str, Any]) -> str:
    """The cell's verdict word (definitions in the module docstring)."""
    g = lambda k: row.get(k) if isnum(row.get(k)) else math.nan  # noqa: E731
    if not g("verified_before") >= 0.5:
        return "unverified"
    attack = row.get("attack")
    if attack == "none":
        return "verified"
    if attack != "transfer" and g("nc_acc_before") - g("nc_acc_after") > DESTROYED_DROP:
        return "destroyed"
    if g("pirate_verified") >= 0.5:
        return "forged"
    if math.isnan(g("verified_after")):
        return "n/a"
    return "robust" if g("verified_after") >= 0.5 else "removed"


def _order(values: list[str], order: list[str]) -> list[str]:
    rank = {v: i for i, v in enumerate(order)}
    return sorted(values, key=lambda v: (rank.get(v, len(order)), v))


# ---------------------------------------------------------------- loading and aggregation


def open_store(path: str | os.PathLike | Store) -> Store:
    """A Store for a run folder or its results.sqlite; never creates a new, empty one."""
    if isinstance(path, Store):
        return path
    p = Path(path)
    if p.is_file() and p.name == DB_NAME:
        p = p.parent
    if not (p / DB_NAME).is_file():
        raise BadInput(f"no results store at {p} (expected {p / DB_NAME}; run `bench run --out {p}` first)")
    return Store(p)


def prepare(results: pd.DataFrame) -> pd.DataFrame:
    """Ids as strings, metrics JSON flattened into ``m.<key>`` columns (scalars only)."""
    df = results.copy()
    for c in GROUP:
        df[c] = df[c].fillna("").astype(str) if c in df else ""
    flat = [{f"m.{k}": v for k, v in parse_metrics(t).items() if isinstance(v, (int, float, str, bool))}
            for t in df.get("metrics", pd.Series([None] * len(df)))]
    extra = pd.DataFrame(flat, index=df.index)
    return pd.concat([df, extra], axis=1) if len(extra.columns) else df


def aggregate(raw: pd.DataFrame) -> pd.DataFrame:
    """Leaderboard means/stds over seeds plus the mean (numbers) or first value (text) of each ``m.*``."""
    board = leaderboard(raw)
    mcols = [c for c in raw.columns if c.startswith("m.")]
    if board.empty or not mcols:
        return board
    parts = {}
    for c in mcols:
        col = raw[c]
        numeric = pd.to_numeric(col.map(lambda v: float(v) if isinstance(v, (bool, int, float)) else v), errors="coerce")
        if numeric.notna().sum() == col.notna().sum():
            parts[c] = numeric.groupby([raw[g] for g in GROUP], dropna=False).mean()
        else:
            parts[c] = col.groupby([raw[g] for g in GROUP], dropna=False).first()
    extra = pd.DataFrame(parts).reset_index()
    for g in GROUP:
        board[g], extra[g] = board[g].astype(str), extra[g].astype(str)
    return board.merge(extra, on=GROUP, how="left")


def before_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per trained model (task, arch, profile, scheme, seed): its attack-free numbers."""
    if raw.empty:
        return raw
    df = raw.assign(_pref=(raw["attack"] != "none").astype(int)).sort_values(["_pref", "attack", "setting"])
    return df.drop_duplicates(TASK_KEYS + ["scheme", "seed"]).drop(columns="_pref")


def provenance(raw: pd.DataFrame) -> list[str]:
    """Command(s), profile, seeds, device and code version of the rows a table shows."""
    if raw.empty:
        return []

    def vals(col: str, limit: int = 3) -> str:
        v = [str(x) for x in pd.unique(raw[col].dropna()) if str(x)] if col in raw else []
        more = f" (+{len(v) - limit} more)" if len(v) > limit else ""
        return ", ".join(v[:limit]) + more if v else "—"

    seeds = sorted({int(s) for s in pd.to_numeric(raw["seed"], errors="coerce").dropna()})
    cmds = [str(c) for c in pd.unique(raw["command"].dropna())] if "command" in raw else []
    lines = [f"command: `{c}`" for c in cmds[:3]] + ([f"(+{len(cmds) - 3} more commands)"] if len(cmds) > 3 else [])
    lines.append(f"profile: {vals('profile')} · seeds: {', '.join(map(str, seeds)) or '—'} ({len(seeds)}) · "
                 f"device: {vals('device')} · code version: {vals('code_version')}")
    return lines


def groups(raw: pd.DataFrame):
    """(task, arch, profile, rows) for each task/arch/profile in the store, in a stable order."""
    for key, rows in raw.groupby(TASK_KEYS, sort=True):
        yield (*key, rows)


def label(task: str, arch: str, profile: str) -> str:
    return f"{task} · {profile}" + (f" · {arch}" if arch else "")


# ---------------------------------------------------------------- tables


def matrix_table(raw: pd.DataFrame, task: str, arch: str, profile: str) -> Table:
    """(a) scheme x attack/setting: "nc_after / wm_after ✓/✗" (piracy adds the pirate verdict)."""
    board = aggregate(raw)
    cols = sorted({(a, s) for a, s in zip(board["attack"], board["setting"])}, key=_column_key)
    rows = []
    for scheme in sorted(board["scheme"].unique(), key=lambda s: (s != "none", s)):
        sub = board[board["scheme"] == scheme].set_index(["attack", "setting"])
        cells = [scheme]
        for a, s in cols:
            if (a, s) not in sub.index:
                cells.append("")
                continue
            r = sub.loc[(a, s)]
            if a == "none":
                cells.append(f"{pct(r['nc_acc_before'], 1)} / {pct(r['wm_acc_before'], 1)} {mark(r['verified_before'], r['seeds'])}")
                continue
            cell = f"{pct(r['nc_acc_after'], 1)} / {pct(r['wm_acc_after'], 1)} {mark(r['verified_after'], r['seeds'])}"
            if a == "piracy":
                cell += f" · pirate {mark(r['pirate_verified'])}"
            cells.append(cell)
        rows.append(cells)
    return Table(f"Scheme x attack ({label(task, arch, profile)})", ["scheme"] + [f"{a}/{s}" for a, s in cols], rows,
                 provenance(raw), "Cells: NC after / owner WM after (%), ✓ = owner watermark verifies "
                 "on at least half the seeds (\"✓ 2/3\": on 2 of 3 where seeds split); `none` column: before any "
                 "attack.", task, profile)


def _column_key(col: tuple[str, str]) -> tuple:
    attack, setting = col
    return (ATTACK_ORDER.index(attack) if attack in ATTACK_ORDER else len(ATTACK_ORDER), _order_key(setting), col)


def _order_key(setting: str) -> int:
    return SETTING_ORDER.index(setting) if setting in SETTING_ORDER else len(SETTING_ORDER)


def piracy_table(raw: pd.DataFrame, task: str, arch: str, profile: str) -> Table | None:
    """Tables 1/3 layout: NC before/after, owner WM before/after, pirate WM per scheme and setting."""
    sel = raw[raw["attack"] == "piracy"]
    if sel.empty:
        return None
    board = aggregate(sel)
    rows = []
    for _, r in board.sort_values(["scheme", "setting"], key=_sort_key).iterrows():
        rows.append([r["scheme"], r["setting"], str(int(r["seeds"])),
                     f"{pct(r['nc_acc_before'])} / {pct(r['nc_acc_after'])}",
                     f"{pct(r['wm_acc_before'])} / {pct(r['wm_acc_after'])}", mark(r["verified_after"], r["seeds"]),
                     pct_std(r["pirate_wm_acc"], r.get("m.pirate_wm_acc_std")), mark(r["pirate_verified"]),
                     pval(r.get("m.pirate_p_value_median")), verdict(r)])
    return Table(f"Tables 1/3: piracy ({label(task, arch, profile)})",
                 ["scheme", "setting", "seeds", "NC before / after", "owner WM before / after", "owner verified",
                  "pirate WM", "pirate verified", "pirate p", "verdict"], rows, provenance(sel),
                 "Pirate WM: mean over seeds (± the spread over pirate keys where the attack recorded it). "
                 "Pirate p: median over pirate keys of the one-sided binomial p-value of the pirate's "
                 "verification against chance (schemes/stats.py); `paper` is the published protocol, the "
                 "other settings are attackers who adapt (attacks/piracy.py).",
                 task, profile)


def pval(x: Any) -> str:
    if not isnum(x):
        return "-"
    return "<1e-300" if x == 0 else (f"{x:.0e}" if x < 1e-3 else f"{x:.3f}")


def claims_table(claims: pd.DataFrame) -> Table | None:
    """Non-trivial ownership (Li et al. 7.3): random claimant keys verified on clean and watermarked models."""
    if claims is None or claims.empty:
        return None
    rows = []
    for _, r in claims.sort_values(["task", "profile", "scheme", "seed"]).iterrows():
        keys = int(r["keys"])
        rows.append([r["task"], r["profile"], r["scheme"], str(int(r["seed"])), str(keys),
                     f"{int(r['false_claims_clean'])}/{keys}", f"{int(r['false_claims_marked'])}/{keys}",
                     num(r["random_wm_acc_clean_mean"], 3), num(r["threshold_95"], 3), num(r["owner_wm_acc"], 3),
                     pval(r.get("owner_p_value"))])
    return Table("False claims with random keys (non-trivial ownership)",
                 ["task", "profile", "scheme", "seed", "keys", "false claims, clean model",
                  "false claims, watermarked model", "random-key WM (clean, mean)", "95th pct (calibrated T)",
                  "owner WM", "owner p"], rows,
                 ["`bench run ... --calibrate --claim-keys K` (harness/claims.py); test subset of 1,000 images"],
                 "A false claim is a random key (never an owner's) that verifies at the scheme's fixed threshold.")


def _sort_key(col: pd.Series) -> pd.Series:
    if col.name == "scheme":
        return col.map(lambda s: (s != "none", s))
    if col.name == "setting":
        return col.map(lambda s: (_order_key(s), s))
    return col


def cost_table(raw: pd.DataFrame, task: str, arch: str, profile: str) -> Table | None:
    """Table 4 layout: clean NC vs watermarked NC (the cost of embedding), WM accuracy."""
    before = before_rows(raw)
    if before.empty:
        return None
    board = aggregate(before.assign(attack="none", setting="none"))
    clean_ref = board.loc[board["scheme"] == "none", "nc_acc_before"]
    rows = []
    for _, r in board.sort_values("scheme", key=_sort_key).iterrows():
        clean = r["nc_acc_clean"] if isnum(r["nc_acc_clean"]) else (clean_ref.iloc[0] if len(clean_ref) else math.nan)
        cost = 100 * (clean - r["nc_acc_before"]) if isnum(clean) and isnum(r["nc_acc_before"]) else math.nan
        rows.append([r["scheme"], str(int(r["seeds"])), pct(clean), pct_std(r["nc_acc_before"], r["nc_acc_before_std"]),
                     num(cost), pct_std(r["wm_acc_before"], r["wm_acc_before_std"]), mark(r["verified_before"], r["seeds"])])
    return Table(f"Table 4: cost of embedding ({label(task, arch, profile)})",
                 ["scheme", "seeds", "clean NC", "watermarked NC", "NC cost (pt)", "WM acc", "verified"], rows,
                 provenance(before), "", task, profile)


def neural_cleanse_table(raw: pd.DataFrame, task: str, arch: str, profile: str) -> Table | None:
    """Table 5 layout: anomaly index per scheme (``none`` = the watermark-free reference)."""
    sel = raw[raw["attack"] == "neural_cleanse"]
    if sel.empty:
        return None
    sel = sel.copy()
    if "m.flagged_correct" in sel:
        # the attack's own verdict; null where the scheme has no backdoor target (none, uchida, deepsigns): "—"
        sel["m.hit"] = pd.to_numeric(sel["m.flagged_correct"].map({True: 1.0, False: 0.0}), errors="coerce")
    board = aggregate(sel)
    rows = []
    for _, r in board.sort_values(["scheme", "setting"], key=_sort_key).iterrows():
        n = r["seeds"]
        rows.append([r["scheme"], r["setting"], num(r.get("m.anomaly_index")), mark(r.get("m.flagged"), n),
                     mark(r.get("m.hit"), n), pct(r["nc_acc_after"]), pct(r["wm_acc_after"]), mark(r["verified_after"], n)])
    return Table(f"Table 5: Neural Cleanse ({label(task, arch, profile)})",
                 ["scheme", "setting", "anomaly index", "flagged (> 2)", "flagged = WM target", "NC after unlearning",
                  "WM after unlearning", "verified"], rows, provenance(sel), "", task, profile)


def extraction_table(raw: pd.DataFrame, task: str, arch: str, profile: str) -> Table | None:
    """Table 6 layout: substitute NC (and the owner WM it inherited) per data size and source."""
    sel = raw[raw["attack"] == "extraction"]
    if sel.empty:
        return None
    board = aggregate(sel)
    board["size"] = board.get("m.data_size", pd.Series(math.nan, index=board.index))
    board["source"] = board.get("m.source", pd.Series(None, index=board.index)).fillna("in_distribution")
    size_label = lambda r: f"{int(r['size']):,}" if isnum(r["size"]) else r["setting"]  # noqa: E731
    board["col"] = board.apply(size_label, axis=1)
    cols = list(dict.fromkeys(board.sort_values(["size", "setting"])["col"]))
    rows = []
    for (scheme, source), sub in sorted(board.groupby(["scheme", "source"]), key=lambda t: (t[0][0] != "none", t[0])):
        cells = {}
        for _, r in sub.iterrows():
            cells[r["col"]] = (f"{pct(attack_metric(r, 'substitute_nc_acc'))} / {pct(r['wm_acc_after'])} "
                               f"{mark(r['verified_after'], r['seeds'])}")
        rows.append([scheme, str(source)] + [cells.get(c, "") for c in cols])
    return Table(f"Table 6: model extraction ({label(task, arch, profile)})", ["scheme", "source"] + cols, rows,
                 provenance(sel), "Cells: substitute NC / owner WM on the substitute (%), per number of attacker "
                 "inputs labelled by the victim.", task, profile)


def transfer_tables(raw: pd.DataFrame, task: str, arch: str, profile: str) -> list[Table]:
    """Tables 7-8 layout: student accuracy per mode; owner WM after the verifier's recovery."""
    sel = raw[raw["attack"] == "transfer"]
    if sel.empty:
        return []
    board = aggregate(sel)
    modes = _order(list(board["setting"].unique()), TRANSFER_MODES)
    t7, t8 = [], []
    for scheme in sorted(board["scheme"].unique(), key=lambda s: (s != "none", s)):
        sub = board[board["scheme"] == scheme].set_index("setting")
        s7, s8 = [scheme], [scheme]
        for m in modes:
            r = sub.loc[m] if m in sub.index else None
            s7.append("" if r is None else pct(attack_metric(r, "student_acc")))
            s8.append("" if r is None else f"{pct(r['wm_acc_after'])} {mark(r['verified_after'], r['seeds'])}")
        t7.append(s7)
        t8.append(s8)
    name, prov = label(task, arch, profile), provenance(sel)
    return [Table(f"Table 7: transfer learning, student NC ({name})", ["teacher scheme"] + modes, t7, prov,
                  "`none` = watermark-free teacher.", task, profile),
            Table(f"Table 8: owner WM after recovery ({name})", ["teacher scheme"] + modes, t8, prov,
                  "The verifier re-attaches a teacher-sized head, fine-tunes it in the same mode, then verifies.",
                  task, profile)]


def pruning_table(raw: pd.DataFrame, curves: pd.DataFrame, task: str, arch: str, profile: str) -> Table | None:
    """Largest pruning rate whose NC stays within 5 pt of the unpruned model, and the WM there."""
    sel = raw[raw["attack"] == "pruning"]
    if sel.empty:
        return None
    board = aggregate(sel)
    cur = _select(curves, task, arch, profile, "pruning")
    rows = []
    for _, r in board.sort_values(["scheme", "setting"], key=_sort_key).iterrows():
        c = pd.DataFrame()
        if not cur.empty and "rate" in cur:
            c = cur[(cur["scheme"] == r["scheme"]) & (cur["setting"] == r["setting"])]
            c = c.groupby("rate")[[k for k in ("nc_acc", "wm_acc", "verified") if k in c]].mean().reset_index()
        rate = r.get("m.max_rate_within_5pt")
        if not isnum(rate) and not c.empty and "nc_acc" in c:
            base = c.loc[c["rate"].idxmin(), "nc_acc"]
            ok = c[c["nc_acc"] >= base - DESTROYED_DROP]
            rate = float(ok["rate"].max()) if len(ok) else math.nan
        at = c.iloc[(c["rate"] - rate).abs().argsort()[:1]] if isnum(rate) and not c.empty else pd.DataFrame()
        get = lambda k: float(at[k].iloc[0]) if k in at and len(at) else math.nan  # noqa: E731
        rows.append([r["scheme"], r["setting"], str(int(r["seeds"])), num(rate), pct(get("nc_acc")), pct(get("wm_acc")),
                     mark(get("verified"), r["seeds"])])
    return Table(f"Pruning: largest rate within 5 pt of NC ({label(task, arch, profile)})",
                 ["scheme", "setting", "seeds", "max rate", "NC there", "WM there", "verified there"], rows,
                 provenance(sel), "", task, profile)


def _select(curves: pd.DataFrame, task: str, arch: str, profile: str, attack: str) -> pd.DataFrame:
    if curves is None or curves.empty:
        return pd.DataFrame()
    c = curves.copy()
    for k in GROUP:
        c[k] = c[k].fillna("").astype(str)
    return c[(c["task"] == task) & (c["arch"] == arch) & (c["profile"] == profile) & (c["attack"] == attack)]


def build_tables(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> list[Table]:
    """Every table for a store's rows, in report order (per task/profile, then the paper comparison)."""
    raw = prepare(results)
    if raw.empty:
        return []
    tables: list[Table] = []
    for task, arch, profile, rows in groups(raw):
        tables.append(matrix_table(rows, task, arch, profile))
        for t in (cost_table(rows, task, arch, profile), piracy_table(rows, task, arch, profile),
                  neural_cleanse_table(rows, task, arch, profile), extraction_table(rows, task, arch, profile),
                  *transfer_tables(rows, task, arch, profile), pruning_table(rows, curves, task, arch, profile)):
            if t is not None:
                tables.append(t)
    return tables


def run_status(run: pd.Series) -> str:
    """Mark a run that never reached its end (killed or interrupted): its stored cells stay valid, but
    a reader of the run list should not take the command as one that completed."""
    return "" if pd.notna(run.get("finished")) else " · did not finish"


def markdown(tables: list[Table], runs: pd.DataFrame | None = None) -> str:
    from harness import paper_numbers as paper

    out = ["# wmbench report", ""]
    if runs is not None and not runs.empty:
        out += ["Runs in this store:", ""]
        for _, r in runs.iterrows():
            out.append(f"- `{r['command']}` on {r['device']} (code {r['code_version']}){run_status(r)}")
        out.append("")
    if not tables:
        return "\n".join(out + ["No results in this store yet.", ""])
    paper_part = [t for t in tables if t.title.startswith("Paper vs ours")]
    for t in tables:
        if t not in paper_part:
            out += [t.markdown()]
    out += ["## Compare with the paper", "", f"Published numbers: {paper.SOURCE}. Rows appear only where our "
            "task / scheme / setting matches one of the paper's.", ""]
    out += [t.markdown() for t in paper_part] or ["No row of this store matches a published row.", ""]
    return "\n".join(out)


def write_report(folder_or_store_path: str | os.PathLike | Store, out_dir: str | os.PathLike,
                 html: bool = False) -> list[Path]:
    """Write ``tables.md`` and ``plots/*.png`` (and ``index.html`` with ``html=True``); return the paths written."""
    from harness.paper_numbers import paper_tables
    from harness.plots import make_plots

    store = open_store(folder_or_store_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results, curves, runs = store.results(), store.curves(), store.runs()
    ours = build_tables(results, curves) if not results.empty else []
    claims = [t for t in (claims_table(store.claims()),) if t is not None]
    tables = ours + claims + (paper_tables(prepare(results)) if not results.empty else [])
    path = out / "tables.md"
    atomic_write_text(path, markdown(tables, runs))
    written = [path] + make_plots(results, curves, out / "plots")
    if html:
        from harness.html import render_html

        written.append(render_html(store, out, tables=tables, plots=written[1:]))
    return written
