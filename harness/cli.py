"""``bench``: train, attack, verify, tabulate and regression-check DNN watermarks.

Exit codes: 0 ok; 1 not verified / regression found; 2 bad input; 3 data not found; 130 interrupted.
"""
from __future__ import annotations

import functools
import json
import shlex
import sys
from pathlib import Path

import click

from harness.errors import WmbenchError

DEFAULT_OUT = "runs/latest"


def friendly(fn):
    """Turn library errors into one line on stderr and the documented exit code (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except WmbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted: finished cells are stored and a long training keeps its last checkpoint "
                       "(OUT/models/*.partial.pt, every 5 minutes); rerun the same command to resume", err=True)
            sys.exit(130)

    return wrapper


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_seeds(ctx, param, value: str) -> list[int]:
    """'3' -> [0, 1, 2]; '0,5,7' -> those seeds."""
    try:
        if "," in value:
            seeds = [int(v) for v in _split(value)]
        else:
            n = int(value)
            if n < 1:
                raise ValueError
            seeds = list(range(n))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a seed count (e.g. 3) or a comma list of seeds (e.g. 0,1,2)") from None
    return seeds


def _names(registry, value: str) -> list[str]:
    names = registry.names() if value == "all" else _split(value)
    for n in names:
        registry.get(n)
    return names


def _scheme_names(value: str) -> list[str]:
    """Registered names, 'all', or variants (``null_embedding+null_weight=0.25``) in their canonical form."""
    from schemes import SCHEMES
    from schemes.variants import scheme_variant_name

    return SCHEMES.names() if value == "all" else [scheme_variant_name(n) for n in _split(value)]


data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), default=None, envvar="WMBENCH_DATA",
                               help="Folder with the official data sets (default: $WMBENCH_DATA).")
# quick is the default: smoke (2 epochs on 3,000 images) is for tests and too short for null
# embedding to take hold (measured: digit-mini smoke null-embedded nc 30.5%, quick 92.3%).
profile_option = click.option("--profile", type=click.Choice(["smoke", "quick", "paper"]), default="quick", show_default=True,
                              help="smoke: seconds, for tests; quick: minutes on a CPU; paper: Table 14 as published (GPU).")
recipe_option = click.option(
    "--recipe", "recipe_changes", multiple=True, metavar="FIELD=VALUE",
    help="Change a field of the profile's training recipe (e.g. warmup_steps=500, epochs=12, grad_clip=none); "
         "repeatable. The result is a profile variant named like quick+warmup_steps=500: its cells, models and "
         "leaderboard rows are kept apart from the stock profile's. Fields: `bench tasks --recipes`.")


def _variant(profile: str, changes: tuple[str, ...]) -> str:
    """``--profile`` plus ``--recipe`` changes as one profile name (the stock name when none)."""
    from tasks.base import variant_name

    return variant_name(profile, changes) if changes else profile


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="wmbench")
def cli() -> None:
    """wmbench: a comparative benchmark of DNN ownership watermarks.

    Schemes (null embedding, Uchida, DeepSigns, Zhang, Adi, none) are embedded while
    training on a task, attacked (piracy, fine-tuning, pruning, Neural Cleanse,
    extraction, transfer) and verified; results go to a resumable SQLite store from
    which leaderboards, paper-style tables, plots and an HTML page are made.

    \b
    Quick start (no data folder needed):
      bench run                                   # digit-mini, null_embedding x piracy, quick (~4 min)
      bench run --scheme all --attack all --out runs/grid
      bench leaderboard --results runs/grid --out board.csv
      bench report --results runs/grid --out report --html
      bench check --baseline results/leaderboard.csv --results runs/grid
    """


@cli.command()
@click.option("--task", "task_", default="digit-mini", show_default=True,
              help="Comma list of tasks (see `bench tasks`); NAME@a / NAME@b is a half of the classes.")
@click.option("--scheme", default="null_embedding", show_default=True,
              help="Comma list of schemes, or 'all'. SCHEME+PARAM=VALUE[+...] is a variant with changed parameters "
                   "(e.g. null_embedding+null_weight=0.25), stored under that name. Parameters: `bench schemes --params`.")
@click.option("--attack", default="piracy", show_default=True, help="Comma list of attacks, or 'all'.")
@profile_option
@recipe_option
@click.option("--seeds", default="1", callback=parse_seeds, show_default=True, help="Seed count N (0..N-1) or comma list.")
@click.option("--out", type=click.Path(file_okay=False), default=DEFAULT_OUT, show_default=True, help="Run folder (results.sqlite, models/, leaderboard.csv).")
@click.option("--arch", default=None, help="Architecture (default: the task's paper model; or timm:<name>).")
@click.option("--setting", "settings", multiple=True, metavar="ATTACK:S1[,S2]", help="Attack settings to run (default: the attack's defaults). Repeatable.")
@click.option("--param", "params", multiple=True, metavar="ATTACK.KEY=VALUE", help="Attack parameter, e.g. piracy.pirate_keys=10. Repeatable.")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(1, 64), help="Parallel worker processes.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--resolution", type=click.IntRange(min=8), default=None, help="Override the task's input resolution.")
@click.option("--device", default=None, help="cpu / cuda / cuda:1 (default: CUDA when present).")
@click.option("--calibrate", is_flag=True, help="Also measure false claims with random keys on clean and watermarked models and fit 95th-percentile thresholds.")
@click.option("--claim-keys", default=1000, show_default=True, type=click.IntRange(1), help="Random keys per scheme for --calibrate.")
@click.option("--clean-from", type=click.Path(exists=True, file_okay=False), multiple=True,
              help="Run folder whose stored clean cells (--scheme none --attack none) give the clean accuracy, "
                   "instead of training the clean model here (e.g. one trained on a GPU elsewhere). Repeatable: "
                   "the first folder holding a seed's clean cell gives it.")
@data_dir_option
@friendly
def run(task_, scheme, attack, profile, recipe_changes, seeds, out, arch, settings, params, jobs, executor, resolution,
        device, calibrate, claim_keys, clean_from, data_dir) -> None:
    """Run a grid: every task x scheme x attack x setting x seed. Resumable; reruns skip finished cells."""
    from attacks import ATTACKS
    from harness.device import pick_device
    from harness.errors import BadInput
    from harness.grid import GridSpec, expand, get_task_spec, run_grid
    from harness.leaderboard import write_leaderboard
    from harness.store import Store

    profile = _variant(profile, recipe_changes)
    spec = GridSpec(tasks=_split(task_), schemes=_scheme_names(scheme), attacks=_names(ATTACKS, attack),
                    profile=profile, seeds=seeds, out=out, arch=arch, data_dir=data_dir, resolution=resolution,
                    settings=_parse_settings(settings), attack_params=_parse_params(params), device=device,
                    command="bench " + " ".join(shlex.quote(a) for a in sys.argv[1:]), clean_from=tuple(clean_from))
    if not spec.tasks or not spec.schemes or not spec.attacks:
        raise BadInput("--task, --scheme and --attack each need at least one name")
    for flag, given in (("--setting", spec.settings), ("--param", spec.attack_params)):
        stray = sorted(set(given) - set(spec.attacks))
        if stray:
            raise BadInput(f"{flag} names attack(s) {', '.join(stray)} not in --attack ({', '.join(spec.attacks)})")
    pick_device(device)
    cells = expand(spec)  # unknown names / settings fail here, before anything is written
    if clean_from:  # a missing clean cell fails here too, not after hours of training
        from harness.grid import stored_clean_accuracy
        for cell in {(c.task, c.arch, c.seed): c for c in cells if c.scheme != "none"}.values():
            stored_clean_accuracy(clean_from, cell)
    for t in spec.tasks:  # missing or corrupt data and unknown architectures fail here too
        task_obj = get_task_spec(t, data_dir, profile, resolution)
        task_obj.model(arch)
        task_obj.data("test")
    click.echo(f"{len(cells)} cells -> {out}", err=True)
    summary = run_grid(spec, executor=executor, jobs=jobs)
    store = Store(out)
    board = write_leaderboard(store.results(), Path(out) / "leaderboard.csv")
    click.echo(_summary_table(board))
    if calibrate:
        from harness.grid import run_claims

        run_claims(spec, claim_keys)
        claims = store.claims()
        if not claims.empty:
            cols = ["task", "scheme", "seed", "keys", "false_claims_clean", "false_claims_marked", "threshold_95",
                    "owner_wm_acc", "owner_verified", "owner_above_calibrated"]
            click.echo("\nfalse claims with random keys (clean / watermarked model):")
            click.echo(claims[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    click.echo(f"\n{summary['ran']} cells run, {summary['skipped']} already done, {summary['seconds']:.1f} s; "
               f"leaderboard: {Path(out) / 'leaderboard.csv'}", err=True)
    kept = summary.get("kept_params") or []
    if kept:
        cell, have, want = kept[0]
        click.echo(f"note: {len(kept)} stored cell(s) were made with other --param values and were kept, e.g. {cell}: "
                   f"stored {json.dumps(have)}, asked {json.dumps(want)}; to replace them, run into another --out "
                   "and `bench merge --replace` it into this one", err=True)


def _parse_settings(values) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values:
        attack, sep, rest = v.partition(":")
        if not sep or not rest:
            raise click.BadParameter(f"{v!r}: expected ATTACK:SETTING[,SETTING]", param_hint="--setting")
        out.setdefault(attack, []).extend(_split(rest))
    return out


def _parse_params(values) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for v in values:
        lhs, sep, raw = v.partition("=")
        attack, dot, key = lhs.partition(".")
        if not sep or not dot:
            raise click.BadParameter(f"{v!r}: expected ATTACK.KEY=VALUE", param_hint="--param")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(attack, {})[key] = value
    return out


def _summary_table(board) -> str:
    if board.empty:
        return "(no results)"
    cols = ["task", "scheme", "attack", "setting", "seeds", "nc_acc_clean", "nc_acc_before", "wm_acc_before",
            "verified_before", "nc_acc_after", "wm_acc_after", "verified_after", "pirate_wm_acc", "pirate_verified"]
    return board[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")


@cli.command()
@click.option("--task", "task_", default="digit-mini", show_default=True)
@click.option("--scheme", default="none", show_default=True,
              help="Embed this scheme while training (key seeded by --seed); SCHEME+PARAM=VALUE is a variant.")
@profile_option
@recipe_option
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--arch", default=None)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Model file (.safetensors); settings go to FILE.json.")
@data_dir_option
@friendly
def train_cmd(task_, scheme, profile, recipe_changes, seed, arch, out, data_dir) -> None:
    """Train one model (clean or watermarked) and save it as safetensors + a JSON of its settings."""
    from harness.device import pick_device, seed_everything
    from harness.evaluate import accuracy
    from harness.grid import get_task_spec
    from harness.modelio import save_model
    from harness.trainer import train
    from schemes import get_scheme

    profile = _variant(profile, recipe_changes)
    task = get_task_spec(task_, data_dir, profile, None)
    sch = get_scheme(scheme)
    key = sch.keygen(task, seed)
    seed_everything(seed)
    device = pick_device()
    model = task.model(arch).to(device)
    log = train(model, task.data("train"), task.recipe, hooks=sch.hooks(key, task), seed=seed, device=device, desc=f"{task_}/{scheme}")
    test = task.data("test")
    nc = accuracy(model, test)
    ver = sch.verify(model, key, task, test)
    meta = {"task": task_, "arch": arch or task.default_arch, "profile": profile, "scheme": scheme, "seed": seed,
            "key": json.loads(key.to_json()), "recipe": task.recipe.as_dict(), "nc_acc": nc, "wm_acc": ver.wm_acc,
            "verified": ver.verified, "train_seconds": log.seconds}
    save_model(model, out, meta)
    click.echo(f"{task_} {scheme} seed {seed}: nc_acc {nc:.4f}  wm_acc {ver.wm_acc:.4f}  verified {ver.verified}  "
               f"({log.seconds:.1f} s) -> {out}")


train_cmd.name = "train"
cli.add_command(train_cmd)


@cli.command("tasks")
@click.option("--recipes", is_flag=True, help="Show each profile's training recipe (the fields `bench run --recipe` changes).")
@data_dir_option
@friendly
def tasks_cmd(recipes, data_dir) -> None:
    """List tasks, where their data are expected and whether they were found."""
    from harness.errors import WmbenchError
    from tasks import TASKS

    if recipes:
        for name in TASKS.names():
            for profile, spec in TASKS.get(name).profiles.items():
                fields = " ".join(f"{k}={v}" for k, v in spec.recipe.as_dict().items())
                click.echo(f"{name:12s} {profile:6s} {fields}")
        return
    for name in TASKS.names():
        cls = TASKS.get(name)
        try:
            task = cls(data_dir=data_dir, profile="smoke")
            task.load_split("test")
            status = "found"
        except WmbenchError as exc:
            status = f"missing ({str(exc)[:90]}...)"
        click.echo(f"{name:12s} {cls.description}\n{'':12s} data: {status}")


@cli.command("schemes")
@click.option("--params", "show_params", is_flag=True,
              help="Also list each scheme's parameters and defaults (what SCHEME+PARAM=VALUE variants may change).")
def schemes_cmd(show_params: bool) -> None:
    """List the registered watermark schemes (built-in and plugins)."""
    from schemes import SCHEMES
    from schemes.variants import scheme_fields

    for name in SCHEMES.names():
        cls = SCHEMES.get(name)
        click.echo(f"{name:18s} {cls.summary}")
        if show_params:
            fields = scheme_fields(cls)
            click.echo(f"{'':18s} " + (" ".join(f"{k}={d!r}{_bounds(cls, k)}" for k, (_, d) in fields.items())
                                       or "(no parameters)"))


def _bounds(cls, name: str) -> str:
    """``[0..1]``, ``[>=1]`` or nothing: the declared bounds a variant's value must meet."""
    from schemes.base import Param

    spec = getattr(cls, "parameters", {}).get(name)
    low, high = Param(*spec)[2:] if spec else (None, None)
    if low is None and high is None:
        return ""
    if low is not None and high is not None:
        return f"[{low:g}..{high:g}]"
    return f"[>={low:g}]" if low is not None else f"[<={high:g}]"


@cli.command("attacks")
def attacks_cmd() -> None:
    """List the registered attacks and their settings."""
    from attacks import ATTACKS

    for name in ATTACKS.names():
        a = ATTACKS.get(name)
        click.echo(f"{name:16s} {a.summary}\n{'':16s} settings: {', '.join(a.settings)}")


@cli.command()
@click.option("--results", type=click.Path(exists=True, file_okay=False), default=DEFAULT_OUT, show_default=True, help="Run folder.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="CSV to write.")
@friendly
def leaderboard(results, out) -> None:
    """Write the leaderboard CSV (mean and std over seeds) of a run folder."""
    from harness.leaderboard import write_leaderboard
    from harness.store import open_existing

    board = write_leaderboard(open_existing(results).results(), out)
    click.echo(f"{len(board)} rows -> {out}")


@cli.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Run folder to merge into (created if missing).")
@click.option("--replace", is_flag=True,
              help="An incoming cell replaces the one already there (a deliberate rerun, e.g. with more pirate keys).")
@friendly
def merge(sources, out, replace) -> None:
    """Merge the results stores of several run folders into one (a cell already there is kept
    unless the incoming row was made by a newer version of its scheme or --replace is given).

    Grids run in separate folders (tasks, machines, sessions) become one store that
    `bench leaderboard` and `bench report` read. Cached models are not copied. A cell's id
    does not include `--param` values, so a rerun with other parameters (more pirate keys)
    is merged over the old row only with --replace.
    """
    from harness.store import Store, open_existing

    # Open every source first: a bad one fails before the destination store is created.
    stores = [(src, open_existing(src)) for src in sources if Path(src).resolve() != Path(out).resolve()]
    dst = Store(out)
    for src, store in stores:
        added = dst.merge_from(store, replace=replace)
        kind = "new or replaced" if replace else "new or newer scheme version"
        click.echo(f"{src}: +{added['results']} cells ({kind}), +{added['curves']} curve rows, "
                   f"+{added['claims']} claims, +{added['runs']} runs")
    dst.close()


@cli.command()
@click.option("--results", type=click.Path(exists=True, file_okay=False), default=DEFAULT_OUT, show_default=True, help="Run folder.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder for tables.md, plots/ (and index.html).")
@click.option("--html", is_flag=True, help="Also write a self-contained static HTML leaderboard page.")
@friendly
def report(results, out, html) -> None:
    """Paper-style markdown tables and plots (and an HTML page) from a run folder."""
    from harness.report import write_report
    from harness.store import open_existing

    open_existing(results)
    for p in write_report(results, out, html=html):
        click.echo(str(p))


@cli.command()
@click.option("--baseline", type=click.Path(dir_okay=False), default="results/leaderboard.csv", show_default=True)
@click.option("--results", type=click.Path(exists=True), default=DEFAULT_OUT, show_default=True, help="Run folder or leaderboard CSV.")
@click.option("--nc-tol", default=1.0, show_default=True, help="Allowed drop of nc accuracy, in points.")
@click.option("--wm-tol", default=0.05, show_default=True, help="Allowed drop of wm accuracy (0-1).")
@click.option("--strict-new", is_flag=True, help="A new scheme also fails where an attack removes its watermark that a baseline scheme survives.")
@friendly
def check(baseline, results, nc_tol, wm_tol, strict_new) -> None:
    """Compare a run with the committed baseline; exit 1 with a readable diff if a scheme regressed."""
    from harness.check import check as run_check

    res = run_check(baseline, results, nc_tol=nc_tol, wm_tol=wm_tol, strict_new=strict_new)
    click.echo(res.text)
    sys.exit(1 if res.regressed else 0)


def _attach_optional() -> None:
    try:
        from harness.cli_keys import keygen, verify
    except ImportError:
        return
    cli.add_command(keygen)
    cli.add_command(verify)


_attach_optional()


def main() -> None:
    cli(prog_name="bench")


if __name__ == "__main__":
    main()
