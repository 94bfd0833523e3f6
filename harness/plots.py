"""Matplotlib plots of the stored curves (``bench report``): one PNG per task/profile and attack.

Curves are the per-step rows each attack records (harness/store.py ``curves``),
averaged over seeds at each x. A plot whose data are absent is skipped, not drawn
empty. Colours: Okabe-Ito (colour-blind safe); NC is a solid line, the owner
watermark dashed, the pirate watermark dotted, so lines differ by more than colour.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
import pandas as pd  # noqa: E402

from harness.leaderboard import GROUP, parse_metrics  # noqa: E402

OKABE_ITO = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"]
LINES = {"nc_acc": ("-", "NC"), "wm_acc": ("--", "owner WM"), "pirate_wm_acc": (":", "pirate WM")}
DPI = 80


def _colours(schemes: list[str]) -> dict[str, str]:
    ordered = sorted(schemes, key=lambda s: (s != "none", s))
    return {s: OKABE_ITO[i % len(OKABE_ITO)] for i, s in enumerate(ordered)}


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _panels(df: pd.DataFrame, x: str, ys: list[str], title: str, path: Path, logx: bool = False,
            xlabel: str | None = None, vline: tuple[float, str] | None = None) -> Path | None:
    """One subplot per setting; one colour per scheme; one line style per metric.

    ``vline`` = (x, label): a reference drawn on every panel (the steps a fresh owner model costs).
    """
    df = owner_as_wm(df)
    ys = [y for y in ys if y in df and df[y].notna().any()]
    if df.empty or x not in df or df[x].notna().sum() == 0 or not ys:
        return None
    settings = sorted(df["setting"].unique())
    ncols = min(3, len(settings))
    nrows = math.ceil(len(settings) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(6.0, 4.2 * ncols), 3.4 * nrows), squeeze=False)
    colours = _colours(list(df["scheme"].unique()))
    for ax, setting in zip(axes.flat, settings):
        sub = df[(df["setting"] == setting) & df[x].notna()]
        for scheme, rows in sub.groupby("scheme"):
            mean = rows.groupby(x)[ys].mean().sort_index()
            for y in ys:
                if mean[y].notna().any():
                    style = LINES.get(y, ("-", y))[0]
                    ax.plot(mean.index, mean[y], style, color=colours[scheme], marker="." if len(mean) < 30 else None)
        if vline is not None:
            ax.axvline(vline[0], color="black", lw=0.8, alpha=0.6)
            ax.annotate(vline[1], (vline[0], 0.5), rotation=90, fontsize=6, ha="right", va="center")
        ax.set_title(setting, fontsize=9)
        ax.set_xlabel(xlabel or x)
        ax.set_ylim(-0.02, 1.02)
        if logx:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(settings):]:
        ax.axis("off")
    # Two small legends' worth of entries: colour = scheme, line style = metric.
    handles = [Line2D([], [], color=colours[s], lw=2, label=s) for s in colours]
    handles += [Line2D([], [], color="grey", ls=LINES.get(y, ("-", y))[0], label=LINES.get(y, ("-", y))[1]) for y in ys]
    ncol = min(len(handles), 4 if ncols == 1 else 8)
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.04 + 0.05 * math.ceil(len(handles) / ncol) / nrows, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _ids(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in GROUP:
        df[c] = df[c].fillna("").astype(str) if c in df else ""
    return df


def _extraction_points(results: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Substitute NC / owner WM per data size: curve rows with ``data_size`` first, else cell metrics."""
    if not curves.empty and "data_size" in curves:
        c = curves[(curves["attack"] == "extraction") & curves["data_size"].notna()].copy()
        if not c.empty:
            if "substitute_nc_acc" in c:
                c["nc_acc"] = c["substitute_nc_acc"].fillna(c.get("nc_acc"))
            return c
    rows = []
    for _, r in results[results["attack"] == "extraction"].iterrows():
        m = parse_metrics(r.get("metrics"))
        if "data_size" in m:
            nc = m.get("substitute_nc_acc", r["nc_acc_after"])
            rows.append({**{k: r[k] for k in GROUP + ["seed"]}, "data_size": m["data_size"], "nc_acc": nc,
                         "wm_acc": r["wm_acc_after"], "source": m.get("source", "")})
    out = pd.DataFrame(rows)
    if not out.empty:  # one panel per source, not per setting (settings are the sizes)
        out["setting"] = out["source"].replace("", "in_distribution")
    return out


def owner_as_wm(df: pd.DataFrame) -> pd.DataFrame:
    """Piracy curves call the owner's mark ``owner_wm_acc``; plot it on the ``wm_acc`` line."""
    if "owner_wm_acc" in df and ("wm_acc" not in df or df["wm_acc"].isna().all()):
        return df.assign(wm_acc=df["owner_wm_acc"])
    return df


def fresh_owner_steps(results: pd.DataFrame, task: str, arch: str, profile: str) -> tuple[float, str] | None:
    """Steps of training an owner model from scratch (its recipe's epochs over the whole training set).

    The training-set size is read off a ``cost_curve_all`` row (that attacker holds all of it):
    samples / epochs of its cost. The paper's Fig. 2 compares piracy with this cost.
    """
    rows = results[(results["task"] == task) & (results["arch"] == arch) & (results["profile"] == profile)
                   & (results["setting"] == "cost_curve_all")] if "setting" in results else results.iloc[0:0]
    for _, row in rows.iterrows():
        cost, recipe = parse_metrics(row.get("metrics")).get("cost", {}), parse_metrics(row.get("recipe"))
        try:
            steps = recipe["epochs"] * math.ceil(cost["samples"] / cost["epochs"] / recipe["batch_size"])
        except (KeyError, TypeError, ZeroDivisionError):
            continue
        return float(steps), f"fresh owner model: {steps} steps"
    return None


def make_plots(results: pd.DataFrame, curves: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
    """Write every plot the data allow into ``out_dir``; return the PNG paths (possibly none)."""
    out = Path(out_dir)
    results = _ids(results) if not results.empty else results
    curves = _ids(curves) if not curves.empty else curves
    written: list[Path] = []
    if results.empty:
        return written
    for (task, arch, profile), _ in results.groupby(["task", "arch", "profile"]):
        stem = _safe(f"{task}_{profile}" + (f"_{arch}" if arch else ""))
        label = f"{task} · {profile}" + (f" · {arch}" if arch else "")
        cur = curves[(curves["task"] == task) & (curves["arch"] == arch) & (curves["profile"] == profile)] \
            if not curves.empty else curves
        jobs = []
        if not cur.empty:
            pr = cur[cur["attack"] == "pruning"]
            jobs.append((pr, "rate", ["nc_acc", "wm_acc"], f"Pruning ({label})", "pruning", False, "pruning rate"))
            ft = cur[cur["attack"] == "finetune"]
            jobs.append((ft, "epoch", ["nc_acc", "wm_acc"], f"Fine-tuning ({label})", "finetune", False, "epoch"))
            pi = cur[cur["attack"] == "piracy"]
            cost = pi["setting"].str.startswith("cost_curve")
            jobs.append((pi[~cost], "epoch", list(LINES), f"Piracy ({label})", "piracy", False, "epoch"))
            jobs.append((pi[cost], "step", list(LINES), f"Piracy cost curves ({label})", "piracy_cost", False,
                         "attacker step", fresh_owner_steps(results, task, arch, profile)))
        ex = _extraction_points(results[(results["task"] == task) & (results["arch"] == arch)
                                        & (results["profile"] == profile)], cur if not cur.empty else pd.DataFrame())
        jobs.append((ex, "data_size", ["nc_acc", "wm_acc"], f"Extraction ({label})", "extraction", True,
                     "attacker inputs"))
        for df, x, ys, title, kind, logx, xlabel, *vline in jobs:
            p = _panels(df, x, ys, title, out / f"{stem}_{kind}.png", logx=logx, xlabel=xlabel,
                        vline=vline[0] if vline else None)
            if p is not None:
                written.append(p)
    return written
