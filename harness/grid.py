"""The grid runner: expand task x scheme x attack x setting x seed, train each owner model once
(cached), run attacks on copies, and store one atomic row per cell.

A *job* is one owner model (task, arch, profile, scheme, seed) with all its attack
cells, so parallel workers never train the same model twice. Finished cells are
skipped, so a rerun of a finished grid loads nothing and trains nothing.
"""
from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from tqdm.auto import tqdm

from harness.cache import ModelCache
from harness.device import device_label, pick_device, seed_everything
from harness.errors import BadInput
from harness.evaluate import accuracy
from harness.resume import RESUMED, take_resumed
from harness.store import Store
from harness.trainer import progress_enabled, progress_line, train
from harness.types import Key, Verification


@dataclass(frozen=True)
class Cell:
    task: str
    arch: str
    profile: str
    scheme: str
    attack: str
    setting: str
    seed: int

    @property
    def cell_id(self) -> str:
        return "|".join(str(v) for v in asdict(self).values())

    @property
    def job(self) -> tuple[str, str, str, str, int]:
        return (self.task, self.arch, self.profile, self.scheme, self.seed)


@dataclass
class GridSpec:
    tasks: list[str]
    schemes: list[str]
    attacks: list[str]
    profile: str = "smoke"
    seeds: list[int] = field(default_factory=lambda: [0])
    out: str = "runs/default"
    arch: str | None = None
    data_dir: str | None = None
    resolution: int | None = None
    settings: dict[str, list[str]] = field(default_factory=dict)  # attack -> settings (default: the attack's defaults)
    attack_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # attack -> params
    device: str | None = None
    command: str = ""
    cache_dir: str | None = None
    # run folders whose stored clean cells give nc_acc_clean (no clean model trained), searched in order
    clean_from: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        one = isinstance(self.clean_from, (str, Path))  # one folder given as a plain path
        self.clean_from = tuple(str(f) for f in ((self.clean_from,) if one else self.clean_from or ()))


CODE_DIRS = ("schemes", "attacks", "tasks", "harness")


def code_version(root: Path | None = None) -> str:
    """``<package version>+<commit>``, with ``.dirty`` when the code folders differ from that commit.

    A row made by uncommitted or untracked code (a plugin under development, a copy of the
    tree on another machine) must not claim the commit's name alone."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("wmbench")
    except PackageNotFoundError:
        v = "dev"
    root = root or Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=root).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--", *CODE_DIRS], capture_output=True, text=True,
                                 timeout=5, cwd=root).stdout.strip() if rev else ""
    except (OSError, subprocess.SubprocessError):
        rev, changed = "", ""
    return f"{v}+{rev}{'.dirty' if changed else ''}" if rev else v


# ---------------------------------------------------------------- expansion

def expand(spec: GridSpec) -> list[Cell]:
    from attacks import get_attack
    from schemes.variants import parse_scheme

    for name in spec.schemes:
        parse_scheme(name)  # unknown names and bad variant parameters fail before any work
    cells = []
    for task in spec.tasks:
        t = get_task_spec(task, spec.data_dir, spec.profile, spec.resolution)
        arch = spec.arch or t.default_arch
        for attack in spec.attacks:
            a = get_attack(attack)
            settings = spec.settings.get(attack) or a.setting_names(spec.profile)
            for s in settings:
                if s not in a.settings:
                    raise BadInput(f"unknown setting {s!r} for attack {attack}; known: {', '.join(a.settings)}")
            if attack == "extraction" and "ood_data" in settings:  # a bad ood_task fails before any training
                get_task_spec(ood_task_name(task, spec.attack_params.get("extraction", {})), spec.data_dir, spec.profile, None)
            for scheme in spec.schemes:
                for seed in spec.seeds:
                    for setting in settings:
                        cells.append(Cell(task, arch, spec.profile, scheme, attack, setting, seed))
    return cells


@lru_cache(maxsize=16)
def get_task_spec(name: str, data_dir: str | None, profile: str, resolution: int | None):
    """``name`` or ``name@a`` / ``name@b`` (the first / second half of the classes: transfer's offline split)."""
    from tasks import get_task

    base, _, half = name.partition("@")
    task = get_task(base, data_dir=data_dir, profile=profile, resolution=resolution)
    if not half:
        return task
    if half not in ("a", "b"):
        raise BadInput(f"unknown class split {half!r} in task {name!r}; use {base}@a or {base}@b")
    from tasks.classsplit import class_split

    k = task.num_classes
    classes = list(range(k // 2)) if half == "a" else list(range(k // 2, k))
    return class_split(task, classes)


def ood_task_name(name: str, params: dict[str, Any]) -> str:
    """Extraction's ``ood_data`` query source: ``extraction.ood_task``, else GTSRB for the digit tasks and
    MNIST for every other (Li et al. Table 6 used ImageNet / YouTube Faces, which are not offline here)."""
    return str(params.get("ood_task") or ("traffic" if name.partition("@")[0].startswith("digit") else "digit"))


def transfer_target(name: str, data_dir, profile, resolution):
    base, _, half = name.partition("@")
    return get_task_spec(f"{base}@{'a' if half == 'b' else 'b'}", data_dir, profile, resolution)


# ---------------------------------------------------------------- one job

class JobRunner:
    """Runs the cells of one owner model in this process; data and models stay on ``device``."""

    def __init__(self, spec: GridSpec):
        self.spec = spec
        self.device = pick_device(spec.device)
        self.store = Store(spec.out)
        self.cache = ModelCache(spec.cache_dir or Path(spec.out) / "models")
        self.version = code_version()

    def _data(self, task, split: str):
        return task.data(split).to(self.device)

    def owner_model(self, task, arch: str, scheme, key: Key, seed: int):
        recipe = task.recipe
        identity = {"task": task.name, "arch": arch, "profile": task.profile, "resolution": list(task.resolution),
                    "train_size": len(task.data("train")), "recipe": recipe.as_dict(), "scheme": scheme.config(),
                    "key": key.fingerprint(), "seed": seed, "inject_ratio": task.inject_ratio}

        def build():
            seed_everything(seed)
            return task.model(arch).to(self.device)

        def fit(model, checkpoint):
            log = train(model, self._data(task, "train"), recipe, hooks=scheme.hooks(key, task), seed=seed,
                        device=self.device, desc=f"{task.name}/{scheme.name}/s{seed}", checkpoint=checkpoint)
            RESUMED.pop(str(checkpoint), None)  # the owner's segments travel in its log (below), not the journal
            return {"train_seconds": log.seconds, "epochs": log.epochs, "steps": log.steps, "final_lr": log.final_lr,
                    "max_grad_norm": log.max_grad_norm, "losses": log.losses,
                    **({"resumed": log.resumed} if log.resumed else {})}

        return self.cache.get_or_train(identity, build, fit)

    def clean_accuracy(self, task, cell: Cell, nc_victim: float, test) -> tuple[float, dict[str, Any]]:
        """nc of the clean (`none`) model of the cell's task and seed: the victim itself, the clean model
        (trained or cached), or with ``clean_from`` the number stored there (then named in the row's metrics)."""
        from schemes import get_scheme

        if cell.scheme == "none":
            return nc_victim, {}
        if self.spec.clean_from:
            nc, ref = stored_clean_accuracy(self.spec.clean_from, cell)
            return nc, {"clean_reference": ref}
        none = get_scheme("none")
        clean, _, _ = self.owner_model(task, cell.arch, none, none.keygen(task, cell.seed), cell.seed)
        return accuracy(clean, test), {}

    def run_job(self, cells: list[Cell]) -> int:
        from attacks import AttackContext, get_attack
        from schemes import get_scheme

        scheme = get_scheme(cells[0].scheme)
        todo = [c for c in cells if not self.store.has(c.cell_id, scheme.version)]
        if not todo:
            return 0
        c0 = todo[0]
        task = get_task_spec(c0.task, self.spec.data_dir, self.spec.profile, self.spec.resolution)
        key = scheme.keygen(task, seed=c0.seed)
        test = self._data(task, "test")
        victim, meta, _ = self.owner_model(task, c0.arch, scheme, key, c0.seed)
        nc_before = accuracy(victim, test)
        nc_clean, clean_ref = self.clean_accuracy(task, c0, nc_before, test)
        before = scheme.verify(victim, key, task, test)
        done = 0
        for cell in todo:
            attack = get_attack(cell.attack)
            params = dict(self.spec.attack_params.get(cell.attack, {}))
            extra = {"train": self._data(task, "train")}
            if cell.attack == "transfer":
                extra["target_task"] = transfer_target(cell.task, self.spec.data_dir, self.spec.profile, self.spec.resolution)
            if cell.attack == "extraction" and cell.setting == "ood_data":
                other = get_task_spec(ood_task_name(cell.task, params), self.spec.data_dir, self.spec.profile, None)
                extra["ood"], params["ood_task"] = other.data("train"), other.name
            ctx = AttackContext(task=task, scheme=scheme, owner_key=key, recipe=task.recipe,
                                attacker=self._data(task, "attacker"), test=test, seed=cell.seed, setting=cell.setting,
                                device=self.device, params=params, train_size=len(task.data("train")), extra=extra,
                                checkpoints=self.cache.attack_stem({"cell": cell.cell_id, "owner": meta.get("key"),
                                                                    "attack_version": attack.version, "params": params}))
            seed_everything(cell.seed + 1000)
            start = time.perf_counter()
            result = attack.run(copy.deepcopy(victim), ctx)
            seconds = time.perf_counter() - start
            # trainings of this cell resumed from a checkpoint, and the owner's: which device ran which epochs
            resumed = {**({"resumed": r} if (r := take_resumed(ctx.checkpoints)) else {}),
                       **({"owner_resumed": meta["resumed"]} if meta.get("resumed") else {})}
            if result.model is not None:
                result.model.eval()
            nc_after = result.nc_acc if result.nc_acc is not None else (accuracy(result.model, test) if result.model is not None else math.nan)
            after: Verification = result.owner or (scheme.verify(result.model, key, task, test) if result.model is not None
                                                   else Verification(math.nan, False))
            m = result.metrics
            row = {
                **{k: getattr(cell, k) for k in ("task", "arch", "profile", "scheme", "attack", "setting", "seed")},
                "nc_acc_clean": nc_clean, "nc_acc_before": nc_before,
                "wm_acc_before": before.wm_acc, "verified_before": before.verified, "p_value_before": before.p_value,
                "nc_acc_after": nc_after, "wm_acc_after": after.wm_acc, "verified_after": after.verified,
                "p_value_after": after.p_value,
                "pirate_wm_acc": m.get("pirate_wm_acc"), "pirate_verified": m.get("pirate_verified"),
                "attack_seconds": result.cost.seconds or seconds, "train_seconds": meta.get("train_seconds"),
                "metrics": {**m, "cost": asdict(result.cost), "before": before.details, "after": after.details,
                            "ber_before": before.ber, "ber_after": after.ber, "params": params,
                            "scheme_version": scheme.version, **clean_ref, **resumed},
                "recipe": task.recipe.as_dict(), "device": device_label(self.device),
                "command": self.spec.command, "code_version": self.version, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            self.store.write_cell(cell.cell_id, row, result.curve)
            progress_line(f"cell {cell.task}/{cell.scheme}/{cell.attack}:{cell.setting} seed {cell.seed} stored: "
                          f"nc {nc_after:.4f}, owner wm {after.wm_acc:.4f}, {seconds:.0f} s")
            done += 1
        return done


def run_claims(spec: GridSpec, keys: int) -> list[dict[str, Any]]:
    """False-claim rates and calibrated thresholds (``bench run --calibrate``) for every task x scheme x seed."""
    from harness.claims import false_claims
    from schemes import get_scheme

    runner = JobRunner(spec)
    none = get_scheme("none")
    out = []
    for task_name in spec.tasks:
        task = get_task_spec(task_name, spec.data_dir, spec.profile, spec.resolution)
        arch = spec.arch or task.default_arch
        test = runner._data(task, "test").take(int(os.environ.get("WMBENCH_CLAIM_TEST", 1000)), seed=3)
        for name in spec.schemes:
            if name == "none":
                continue
            scheme = get_scheme(name)
            for seed in spec.seeds:
                if runner.store.has_claims(task_name, spec.profile, name, seed, keys, scheme.version):
                    continue
                key = scheme.keygen(task, seed=seed)
                marked, _, _ = runner.owner_model(task, arch, scheme, key, seed)
                clean, _, _ = runner.owner_model(task, arch, none, none.keygen(task, seed), seed)
                payload = {**false_claims(scheme, task, clean, marked, key, test, keys=keys), "scheme_version": scheme.version}
                runner.store.write_claims(task_name, spec.profile, name, seed, payload)
                out.append({"task": task_name, "scheme": name, "seed": seed, **payload})
    runner.store.close()
    return out


def stored_clean_accuracy(folders: str | Sequence[str], cell: Cell) -> tuple[float, dict[str, Any]]:
    """The clean model's nc for ``cell``'s task, arch, profile and seed, read from the no-attack `none`
    cell of the first run folder in ``folders`` that holds one (``bench run --clean-from``, repeatable):
    for owners whose clean reference was trained elsewhere (another machine, an earlier loan) and is not
    in this run's model cache. Clean models of different seeds may sit in different folders."""
    folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
    for folder in folders:
        if not (Path(folder) / "results.sqlite").is_file():
            raise BadInput(f"--clean-from {folder} holds no results.sqlite: name a run folder (bench run --out)")
    for folder in folders:
        store = Store(folder)
        try:
            row = store.conn.execute(
                "SELECT cell_id, nc_acc_before, device, code_version FROM results WHERE task=? AND arch=? "
                "AND profile=? AND scheme='none' AND attack='none' AND seed=? AND nc_acc_before IS NOT NULL",
                (cell.task, cell.arch, cell.profile, cell.seed)).fetchone()
        finally:
            store.close()
        if row is not None:
            return float(row[1]), {"from": str(folder), "cell_id": row[0], "device": row[2], "code_version": row[3]}
    raise BadInput(f"--clean-from {', '.join(map(str, folders))} has no clean cell for {cell.task}/{cell.arch}/"
                   f"{cell.profile} seed {cell.seed}: run `bench run --scheme none --attack none` for it there, "
                   "add the folder that holds it (--clean-from is repeatable), or leave out --clean-from")


def run_job_in_worker(spec: GridSpec, cells: list[Cell]) -> int:
    """Entry point for process-pool and Ray workers (each opens its own store connection)."""
    runner = JobRunner(spec)
    try:
        return runner.run_job(cells)
    finally:
        runner.store.close()


def train_clean_in_worker(spec: GridSpec, task_name: str, arch: str, seed: int) -> int:
    """Train (or find cached) the clean model of one task and seed; no cells are written."""
    from schemes import get_scheme

    runner = JobRunner(spec)
    try:
        task = get_task_spec(task_name, spec.data_dir, spec.profile, spec.resolution)
        none = get_scheme("none")
        runner.owner_model(task, arch, none, none.keygen(task, seed), seed)
        return 0
    finally:
        runner.store.close()


def group_jobs(cells: Iterable[Cell]) -> list[list[Cell]]:
    jobs: dict[tuple, list[Cell]] = {}
    for c in cells:
        jobs.setdefault(c.job, []).append(c)
    return list(jobs.values())


def run_grid(spec: GridSpec, executor: str = "local", jobs: int = 1,
             on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run every missing cell; returns counts. Resumable and safe to run twice at once."""
    cells = expand(spec)
    store = Store(spec.out)
    from schemes import get_scheme

    done_before = store.done_cells({name: get_scheme(name).version for name in spec.schemes})
    pending = [c for c in cells if c.cell_id not in done_before]
    kept_params = param_mismatches(store, [c for c in cells if c.cell_id in done_before], spec.attack_params)
    device = pick_device(spec.device)
    run_id = store.start_run(spec.command, device_label(device), code_version())
    groups = group_jobs(pending)
    start = time.perf_counter()
    ran = 0
    bar = tqdm(total=len(pending), desc="grid", unit="cell", disable=not progress_enabled())

    def advance(cells: int) -> None:
        bar.update(cells)
        progress_line(f"grid: {ran}/{len(pending)} cells run, {time.perf_counter() - start:.0f} s")

    if executor == "ray":
        from harness.executors import run_ray

        for n in run_ray(spec, groups):
            ran += n
            advance(n)
    elif jobs > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # Every job needs the clean (`none`) model of its task and seed: train those first, so
        # parallel workers never train the same clean model twice.
        first = [g for g in groups if g[0].scheme == "none"]
        rest = [g for g in groups if g[0].scheme != "none"]
        # (with --clean-from the clean numbers come from that folder: no clean model to train)
        missing = set() if spec.clean_from else (
            {(c.task, c.arch, c.seed) for g in rest for c in g[:1]} - {(g[0].task, g[0].arch, g[0].seed) for g in first})
        # Workers use this process's intra-op thread count, not their environment's, so a cell sums in
        # the same order (and gives the same numbers) as it would in the local loop.
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                 initializer=torch.set_num_threads, initargs=(torch.get_num_threads(),)) as pool:
            for phase in ([pool.submit(run_job_in_worker, spec, g) for g in first] +
                          [pool.submit(train_clean_in_worker, spec, *m) for m in sorted(missing)],
                          None):
                futures = phase if phase is not None else [pool.submit(run_job_in_worker, spec, g) for g in rest]
                for f in as_completed(futures):
                    n = f.result()
                    ran += n
                    advance(n)
    else:
        runner = JobRunner(spec)
        for g in groups:
            n = runner.run_job(g)
            ran += n
            advance(len(g))
            if on_progress:
                on_progress(ran, len(pending))
        runner.store.close()
    bar.close()
    store.finish_run(run_id, ran)
    store.close()
    return {"cells": len(cells), "skipped": len(cells) - len(pending), "ran": ran,
            "seconds": time.perf_counter() - start, "kept_params": kept_params}


DERIVED_PARAMS = {"ood_task"}  # written into a row's params by the harness, not given by the user


def param_mismatches(store: Store, done: list[Cell], asked: dict[str, dict[str, Any]]) -> list[tuple[str, dict, dict]]:
    """Stored cells this grid skips although they were run with other ``--param`` values
    (a cell's id leaves its params out): ``(cell_id, stored, asked)`` for each, so the caller can say so."""
    stored = store.params_of()
    out = []
    for cell in done:
        want = asked.get(cell.attack, {})
        have = {k: v for k, v in stored.get(cell.cell_id, {}).items() if k not in DERIVED_PARAMS or k in want}
        if json.dumps(have, sort_keys=True, default=str) != json.dumps(want, sort_keys=True, default=str):
            out.append((cell.cell_id, have, want))
    return out
