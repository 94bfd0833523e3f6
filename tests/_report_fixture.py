"""A small synthetic results store for the report / check / html tests (test data only, never results).

Numbers are chosen so every aggregate the tests assert on is easy to compute by
hand: seed s adds 0.002 * s to every "before" accuracy, so a two-seed mean adds 0.001.
"""
from __future__ import annotations

from pathlib import Path

from harness.store import Store

TASK, ARCH, PROFILE = "digit", "cnn", "smoke"
SEEDS = (0, 1)
COMMAND = "bench run --task digit --scheme none,null_embedding,uchida,adi --attack all --profile smoke --seeds 2"
# scheme -> (clean nc, watermarked nc, wm_acc, verified)
SCHEMES = {"none": (0.980, 0.980, 0.10, 0.0), "null_embedding": (0.980, 0.970, 0.99, 1.0),
           "uchida": (0.980, 0.975, 1.00, 1.0), "adi": (0.980, 0.965, 1.00, 1.0)}
# (scheme, attack, setting) -> nc_after, wm_after, verified_after, pirate_wm, pirate_verified
AFTER = {
    ("null_embedding", "piracy", "paper"): (0.15, 0.05, 0.0, 0.09, 0.0),
    ("adi", "piracy", "paper"): (0.96, 0.45, 0.0, 0.98, 1.0),
    ("uchida", "piracy", "paper"): (0.97, 0.60, 0.0, 1.00, 1.0),
    ("none", "piracy", "paper"): (0.97, 0.10, 0.0, 1.00, 1.0),
    ("null_embedding", "finetune", "ftal"): (0.968, 0.98, 1.0, None, None),
    ("adi", "finetune", "ftal"): (0.962, 0.30, 0.0, None, None),
    ("uchida", "finetune", "ftal"): (0.972, 1.00, 1.0, None, None),
}


def _curve(attack: str, setting: str, nc: float, wm: float, nc_after: float, wm_after: float) -> list[dict]:
    if attack == "pruning":
        rates = [0.0, 0.3, 0.5, 0.7, 0.9]
        ncs = [nc, nc - 0.01, nc - 0.03, nc - 0.20, 0.10]
        wms = [wm, wm, wm - 0.05, 0.30, 0.10]
        return [{"rate": r, "nc_acc": a, "wm_acc": w, "verified": float(w >= 0.5)} for r, a, w in zip(rates, ncs, wms)]
    if attack == "piracy":
        x = "step" if setting.startswith("cost_curve") else "epoch"
        return [{x: i * (39 if x == "step" else 1), "nc_acc": nc + (nc_after - nc) * i / 4,
                 "wm_acc": wm + (wm_after - wm) * i / 4, "pirate_wm_acc": 0.1 + 0.2 * i} for i in range(5)]
    if attack == "finetune":
        return [{"epoch": e, "nc_acc": nc + (nc_after - nc) * e / 3, "wm_acc": wm + (wm_after - wm) * e / 3}
                for e in range(4)]
    return []


def fill_store(folder: Path, *, schemes: dict | None = None, task: str = TASK) -> Store:
    """Write the synthetic grid into ``folder/results.sqlite`` and return the open Store."""
    store = Store(folder)
    run = store.start_run(COMMAND, "cpu", "test-0001")
    n = 0
    for scheme, (clean, nc, wm, ver) in (schemes or SCHEMES).items():
        for seed in SEEDS:
            d = 0.002 * seed
            cells = [("none", "default", (nc + d, wm, ver, None, None), {})]
            for setting in ("paper", "cost_curve_all"):
                a = AFTER.get((scheme, "piracy", "paper"), (0.95, 0.2, 0.0, 0.5, 0.0))
                cells.append(("piracy", setting, a, {"pirate_wm_acc_std": 0.02, "owner_wm_acc_mean": a[1]}))
            cells.append(("finetune", "ftal", AFTER.get((scheme, "finetune", "ftal"), (0.97, wm, ver, None, None)), {}))
            cells.append(("pruning", "magnitude", (0.10, 0.10, 0.0, None, None), {}))
            anomaly = {"none": 0.9, "null_embedding": 1.3, "uchida": 1.1, "adi": 3.1}.get(scheme, 1.0)
            target = 5 if scheme in ("null_embedding", "adi") else None
            cells.append(("neural_cleanse", "detect_unlearn", (nc - 0.01, wm * 0.9, ver, None, None),
                          {"anomaly_index": anomaly + d, "flagged": anomaly > 2, "flagged_label": 5,
                           "target_label": target, "flagged_correct": anomaly > 2 if target is not None else None}))
            for setting, size, source in (("n1000", 1000, "in_distribution"), ("n5000", 5000, "in_distribution"),
                                          ("ood_noise", 5000, "noise")):
                sub = {"n1000": 0.90, "n5000": 0.95, "ood_noise": 0.30}[setting] + d
                cells.append(("extraction", setting, (sub, 0.10, 0.0, None, None),
                              {"substitute_nc_acc": sub, "data_size": size, "source": source}))
            for mode, acc in (("added", 0.80), ("all", 0.92)):
                cells.append(("transfer", mode, (0.96, wm, ver, None, None), {"student_acc": acc + d, "mode": mode}))
            for attack, setting, (nc_a, wm_a, ver_a, pw, pv), metrics in cells:
                row = {"task": task, "arch": ARCH, "profile": PROFILE, "scheme": scheme, "attack": attack,
                       "setting": setting, "seed": seed, "nc_acc_clean": clean, "nc_acc_before": nc + d,
                       "wm_acc_before": wm, "verified_before": ver, "p_value_before": 0.001,
                       "nc_acc_after": nc_a, "wm_acc_after": wm_a, "verified_after": ver_a,
                       "pirate_wm_acc": pw, "pirate_verified": pv, "attack_seconds": 1.5, "train_seconds": 10.0,
                       "metrics": metrics, "recipe": {"lr": 0.01}, "device": "cpu", "command": COMMAND,
                       "code_version": "test-0001", "created": "2026-01-01T00:00:00"}
                curve = _curve(attack, setting, nc + d, wm, nc_a, wm_a)
                store.write_cell(f"{task}|{scheme}|{attack}|{setting}|{seed}", row, curve)
                n += 1
    store.finish_run(run, n)
    return store


def one_row_store(folder: Path, command: str = "bench run") -> Store:
    """A store holding a single attack-free `none` row and no curves (the 'nothing to plot' case)."""
    store = Store(folder)
    row = {"task": "digit", "arch": "", "profile": "smoke", "scheme": "none", "attack": "none", "setting": "default",
           "seed": 0, "nc_acc_before": 0.98, "wm_acc_before": 0.1, "verified_before": 0.0, "command": command,
           "device": "cpu", "code_version": "v"}
    store.write_cell("c0", row, [])
    return store
