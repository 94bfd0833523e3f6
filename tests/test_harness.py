"""End-to-end harness tests on digit-mini smoke: grid, resume, store, leaderboard, plugins, executors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import BadInput
from harness.grid import GridSpec, expand, run_grid, stored_clean_accuracy
from harness.leaderboard import LEADERBOARD_COLUMNS, leaderboard
from harness.store import Store

REPO = Path(__file__).resolve().parents[1]


def _spec(out, **kw) -> GridSpec:
    base = dict(tasks=["digit-mini"], schemes=["none"], attacks=["none"], profile="smoke", seeds=[0], out=str(out))
    base.update(kw)
    return GridSpec(**base)


@pytest.fixture(scope="module")
def small_grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("grid")
    spec = _spec(out, schemes=["none", "zhang"], attacks=["none", "finetune"], settings={"finetune": ["ftal"]},
                 attack_params={"finetune": {"epochs": 1}})
    t0 = time.perf_counter()
    summary = run_grid(spec)
    return spec, summary, time.perf_counter() - t0


def test_grid_rows_and_leaderboard(small_grid):
    spec, summary, _ = small_grid
    cells = expand(spec)
    assert summary["ran"] == len(cells) == 4
    df = Store(spec.out).results()
    assert len(df) == 4 and df["cell_id"].is_unique
    board = leaderboard(df)
    assert list(board.columns) == LEADERBOARD_COLUMNS
    zhang = board[(board.scheme == "zhang") & (board.attack == "none")].iloc[0]
    none = board[(board.scheme == "none") & (board.attack == "none")].iloc[0]
    assert zhang.verified_before == 1.0 and zhang.wm_acc_before > 0.5
    assert none.nc_acc_clean == none.nc_acc_before  # the clean model is the none model of the same seed
    assert zhang.nc_acc_clean == pytest.approx(none.nc_acc_before)
    ft = board[(board.scheme == "zhang") & (board.attack == "finetune")].iloc[0]
    assert ft.setting == "ftal" and ft.attack_seconds > 0


def test_clean_from_reads_the_clean_accuracy_instead_of_training(small_grid, tmp_path):
    spec, _, _ = small_grid
    clean = Store(spec.out).results().query("scheme == 'none' and attack == 'none'").iloc[0]
    out, no_clean = tmp_path / "elsewhere", tmp_path / "no-clean"
    Store(no_clean).close()  # a run folder without this seed's clean cell: searched first, skipped
    run_grid(_spec(out, schemes=["zhang"], clean_from=(str(no_clean), spec.out)))
    row = Store(out).results().iloc[0]
    assert row.nc_acc_clean == clean.nc_acc_before
    ref = json.loads(row.metrics)["clean_reference"]
    assert ref["cell_id"] == clean.cell_id and ref["from"] == str(spec.out)
    assert len(list((out / "models").glob("*.safetensors"))) == 1  # Zhang's owner only: no clean model trained


def test_clean_from_takes_one_folder_or_several_and_names_them_all_when_none_has_the_cell(small_grid, tmp_path):
    spec, _, _ = small_grid
    cell = next(c for c in expand(spec) if c.scheme == "none")
    empty_a, empty_b = tmp_path / "a", tmp_path / "b"
    Store(empty_a).close(), Store(empty_b).close()
    one = stored_clean_accuracy(str(spec.out), cell)
    assert stored_clean_accuracy([str(empty_a), str(spec.out)], cell) == one and one[1]["from"] == str(spec.out)
    assert GridSpec(["digit-mini"], ["zhang"], ["none"], clean_from=str(spec.out)).clean_from == (str(spec.out),)
    with pytest.raises(BadInput, match=f"{empty_a}, {empty_b} has no clean cell"):
        stored_clean_accuracy([str(empty_a), str(empty_b)], cell)


def test_rerun_does_no_training_and_changes_no_row(small_grid):
    spec, _, first_seconds = small_grid
    before = Store(spec.out).results()
    models = sorted(p.stat().st_mtime_ns for p in Path(spec.out, "models").glob("*.safetensors"))
    t0 = time.perf_counter()
    summary = run_grid(spec)
    seconds = time.perf_counter() - t0
    assert summary["ran"] == 0 and summary["skipped"] == 4 and summary["kept_params"] == []
    assert seconds < 0.1 * first_seconds
    after = Store(spec.out).results()
    pd.testing.assert_frame_equal(before, after)
    assert models == sorted(p.stat().st_mtime_ns for p in Path(spec.out, "models").glob("*.safetensors"))


def test_a_recipe_variant_is_a_profile_of_its_own(small_grid, tmp_path):
    """`bench run --recipe epochs=1` names the profile smoke+epochs=1: in a folder holding the stock smoke
    cell it trains a new owner with the changed recipe (recorded in the row) instead of skipping."""
    from click.testing import CliRunner

    from harness.cli import cli
    from harness.grid import get_task_spec
    from tasks.base import parse_profile, variant_name

    assert variant_name("quick", ["warmup_steps=500", "epochs=12"]) == "quick+epochs=12+warmup_steps=500"
    assert variant_name("quick+epochs=12", ["epochs=3"]) == "quick+epochs=3"
    assert variant_name("quick", ["lr=0.010", "grad_clip=None"]) == "quick+grad_clip=none+lr=0.01"
    assert parse_profile("quick+grad_clip=none+lr=0.5") == ("quick", {"grad_clip": None, "lr": 0.5})
    split = get_task_spec("digit-mini@a", None, "smoke+epochs=1+warmup_steps=7", None)
    assert split.profile == "smoke" and (split.recipe.epochs, split.recipe.warmup_steps) == (1, 7)
    assert split.recipe.lr == get_task_spec("digit-mini", None, "smoke", None).recipe.lr  # the rest is the profile's

    spec, _, _ = small_grid
    out = tmp_path / "run"
    shutil.copytree(spec.out, out)
    res = CliRunner().invoke(cli, ["run", "--task", "digit-mini", "--scheme", "none", "--attack", "none",
                                   "--profile", "smoke", "--recipe", "epochs=1", "--seeds", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = Store(out).results().set_index("profile")
    assert set(rows.index) == {"smoke", "smoke+epochs=1"}
    variant = rows.loc["smoke+epochs=1"]
    stock = rows.loc["smoke"].query("scheme == 'none' and attack == 'none'").iloc[0]
    assert json.loads(variant.recipe)["epochs"] == 1 and json.loads(stock.recipe)["epochs"] == 2
    assert variant.nc_acc_before != stock.nc_acc_before  # another model, not the cached stock one
    assert len(list((out / "models").glob("*.safetensors"))) == len(list(Path(spec.out, "models").glob("*.safetensors"))) + 1


def test_a_scheme_variant_is_a_scheme_of_its_own(small_grid, tmp_path):
    """`--scheme null_embedding+null_weight=0.25` builds null embedding with that loss weight, under a canonical
    name that its rows, keys and cached model carry; the stock scheme's cells and models are untouched."""
    from click.testing import CliRunner

    from harness.cli import cli
    from harness.grid import get_task_spec
    from schemes import get_scheme
    from schemes.variants import parse_scheme, scheme_variant_name

    assert scheme_variant_name("null_embedding", ["true_weight=0.25", "null_weight=.250"]) == \
        "null_embedding+null_weight=0.25+true_weight=0.25"
    assert scheme_variant_name("null_embedding+lam=2000", ["inject_ratio=None", "exclude_target=False"]) == \
        "null_embedding+exclude_target=false+inject_ratio=none+lam=2000.0"
    assert parse_scheme("null_embedding+n=4") == ("null_embedding", {"n": 4})
    task = get_task_spec("digit-mini", None, "smoke", None)
    variant = get_scheme("null_embedding+true_weight=0.5+null_weight=0.25")
    assert (variant.name, variant.base_name) == ("null_embedding+null_weight=0.25+true_weight=0.5", "null_embedding")
    key = variant.keygen(task, 0)
    assert key.scheme == variant.name and variant.config()["null_weight"] == 0.25
    hook = variant.hooks(key, task)[0]
    assert (hook.null_weight, hook.true_weight) == (0.25, 0.5)
    assert get_scheme("null_embedding").config() != variant.config()  # so the model cache keys differ

    spec, _, _ = small_grid
    out = tmp_path / "run"
    shutil.copytree(spec.out, out)
    before = {p.name for p in (out / "models").glob("*.safetensors")}
    res = CliRunner().invoke(cli, ["run", "--task", "digit-mini", "--scheme",
                                   "none,null_embedding+lam=500+n=4,zhang+target=6+source=4",
                                   "--attack", "none", "--profile", "smoke", "--seeds", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = Store(out).results().query("attack == 'none'").set_index("scheme")
    assert set(rows.index) == {"none", "zhang", "null_embedding+lam=500.0+n=4", "zhang+source=4+target=6"}
    row = rows.loc["null_embedding+lam=500.0+n=4"]
    assert row.nc_acc_clean == rows.loc["none"].nc_acc_before  # the stored clean model, not a retrained one
    assert json.loads(row.metrics)["before"]["signature_valid"]
    ports_pair = json.loads(rows.loc["zhang+source=4+target=6"].metrics)["before"]
    assert rows.loc["zhang+source=4+target=6"].verified_before and (ports_pair["source"], ports_pair["target"]) == (4, 6)
    new = {p.name for p in (out / "models").glob("*.safetensors")} - before
    assert len(new) == 2  # only the variants' owners were trained
    identities = {i["name"]: i for i in (json.loads((out / "models" / n).with_suffix(".json").read_text())["identity"]["scheme"]
                                         for n in new)}
    assert set(identities) == {"null_embedding+lam=500.0+n=4", "zhang+source=4+target=6"}
    assert identities["null_embedding+lam=500.0+n=4"]["n"] == 4 and identities["zhang+source=4+target=6"]["source"] == 4


def test_every_watermark_scheme_exposes_its_published_settings_as_variant_parameters():
    """Uchida's bit count, Zhang's class pair, DeepSigns' bits, Adi's trigger count...: a variant changes
    what the key records, the stock scheme's config (the cache identity of every stored model) holds no
    defaults, and a value out of range or a parameter a trigger kind does not read fails in one line."""
    from harness.grid import get_task_spec
    from schemes import SCHEMES, get_scheme
    from schemes.variants import parse_scheme, scheme_fields

    task = get_task_spec("digit-mini", None, "smoke", None)
    for name in ("uchida", "deepsigns", "zhang", "zhang_noise", "zhang_unrelated", "adi"):
        assert scheme_fields(SCHEMES.get(name)), name
        assert get_scheme(name).config() == {"name": name, "version": SCHEMES.get(name).version}
    stock, same = get_scheme("uchida").keygen(task, 3), get_scheme("uchida+bits=256").keygen(task, 3)
    assert stock.params == same.params and same.scheme == "uchida+bits=256"  # the defaults are the stock values
    assert len(get_scheme("uchida+bits=64").keygen(task, 3).params["bits"]) == 64
    assert get_scheme("uchida+key_type=diff").keygen(task, 3).params["key_type"] == "diff"
    assert len(get_scheme("deepsigns+bits=32").keygen(task, 3).params["bits"]) == 32
    assert len(get_scheme("adi+n_triggers=20").keygen(task, 3).params["labels"]) == 20
    assert get_scheme("zhang_unrelated+target=2").keygen(task, 3).params["target"] == 2
    assert get_scheme("zhang_noise+sigma=0.1").keygen(task, 3).params["sigma"] == 0.1
    for bad, message in [("uchida+bits=0", "need 1 <= bits"), ("zhang+ratio=1.5", "need 0 <= ratio <= 1"),
                         ("adi+threshold=-0.1", "need 0 <= threshold <= 1"), ("deepsigns+threshold=2", "threshold <= 1"),
                         ("zhang_unrelated+n_verify=0", "need 1 <= n_verify"),
                         ("null_embedding+threshold=2", "need 0 <= threshold <= 1"), ("null_embedding+n=0", "need 1 <= n,")]:
        with pytest.raises(BadInput, match=message):  # declared bounds: caught when the name is parsed
            parse_scheme(bad)
    with pytest.raises(BadInput, match="need 0 <= threshold <= 1"):
        SCHEMES.get("uchida")(threshold=2)  # and when built directly
    ne = SCHEMES.get("null_embedding")  # declares bounds beside its constructor: the defaults must agree
    assert {k: spec.default for k, spec in ne.parameters.items()} == {k: scheme_fields(ne)[k][1] for k in ne.parameters}
    from click.testing import CliRunner

    from harness.cli import cli
    listed = CliRunner().invoke(cli, ["schemes", "--params"]).output  # the bounds a user reads before naming one
    assert "bits=256[>=1]" in listed and "threshold=0.5[0..1]" in listed and "exclude_target=True\n" in listed
    for bad, message in [("zhang+text=WMARK", "has the letters EST only"), ("zhang+target=10", "need 0 <= target < 10"),
                         ("uchida+key_type=gauss", "unknown key_type")]:  # need the task: caught at keygen
        with pytest.raises(BadInput, match=message):
            get_scheme(bad).keygen(task, 3)
    with pytest.raises(BadInput, match="has no parameter 'text'"):
        parse_scheme("zhang_noise+text=TEST")


def test_a_rerun_with_other_params_keeps_the_cells_and_says_so(small_grid):
    """A cell's id leaves out its --param values: a rerun asking for other values skips the stored cells,
    and `bench run` names them with both sets of values and the way to replace them."""
    from click.testing import CliRunner

    from harness.cli import cli

    spec, _, _ = small_grid
    summary = run_grid(GridSpec(**{**spec.__dict__, "attack_params": {"finetune": {"epochs": 2}}}))
    assert summary["ran"] == 0
    assert sorted((c.split("|")[3], have, want) for c, have, want in summary["kept_params"]) == [
        ("none", {"epochs": 1}, {"epochs": 2}), ("zhang", {"epochs": 1}, {"epochs": 2})]  # the finetune cells only
    res = CliRunner().invoke(cli, ["run", "--task", "digit-mini", "--scheme", "none,zhang", "--attack", "none,finetune",
                                   "--setting", "finetune:ftal", "--param", "finetune.epochs=2", "--profile", "smoke",
                                   "--seeds", "1", "--out", spec.out])
    assert res.exit_code == 0, res.output
    assert ('note: 2 stored cell(s) were made with other --param values and were kept' in res.output
            and 'stored {"epochs": 1}, asked {"epochs": 2}' in res.output and "bench merge --replace" in res.output), res.output


def test_a_new_scheme_version_reruns_its_cells(small_grid, tmp_path, monkeypatch):
    """A changed scheme (version bump) must not keep its old rows on resume: they are rerun and replaced."""
    from schemes.zhang import Zhang

    spec, _, _ = small_grid
    out = tmp_path / "grid"
    shutil.copytree(spec.out, out)
    old = Store(out).results().set_index("cell_id")
    assert {json.loads(m).get("scheme_version") for m in old.metrics} == {"1"}
    monkeypatch.setattr(Zhang, "version", "2")
    summary = run_grid(GridSpec(**{**spec.__dict__, "out": str(out)}))
    assert summary["ran"] == 2 and summary["skipped"] == 2  # zhang's two cells; none's two stay
    new = Store(out).results().set_index("cell_id")
    assert len(new) == 4
    for cell_id, row in new.iterrows():
        version = json.loads(row.metrics)["scheme_version"]
        assert version == ("2" if row.scheme == "zhang" else "1")
        assert (row.created != old.loc[cell_id, "created"]) == (row.scheme == "zhang")


def test_changed_setting_never_reuses_a_stale_model(tmp_path):
    from harness.cache import cache_key

    a = {"task": "digit-mini", "recipe": {"epochs": 2}, "seed": 0}
    assert cache_key(a) != cache_key({**a, "seed": 1})
    assert cache_key(a) != cache_key({**a, "recipe": {"epochs": 3}})
    assert cache_key(a) == cache_key(dict(reversed(list(a.items()))))


def _bench(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "WMBENCH_PROGRESS": "0", **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    target = tmp_path_factory.mktemp("plugin_site")
    build = tmp_path_factory.mktemp("plugin_src")
    shutil.copytree(REPO / "tests" / "plugin_pkg", build / "pkg")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(build / "pkg")], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"could not install the plugin package: {proc.stderr[-300:]}")
    return target


def test_plugin_scheme_runs_and_check_catches_weakening(plugin_path, tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(plugin_path), str(REPO)])}
    listed = _bench("schemes", env=env)
    assert "toy_patch" in listed.stdout
    base = tmp_path / "base"
    r = _bench("run", "--scheme", "toy_patch,none", "--attack", "none", "--profile", "smoke", "--out", str(base), env=env)
    assert r.returncode == 0, r.stderr
    board = pd.read_csv(base / "leaderboard.csv")
    assert board.loc[board.scheme == "toy_patch", "verified_before"].item() == 1.0
    same = tmp_path / "same"
    assert _bench("run", "--scheme", "toy_patch", "--attack", "none", "--profile", "smoke", "--out", str(same), env=env).returncode == 0
    ok = _bench("check", "--baseline", str(base / "leaderboard.csv"), "--results", str(same), env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    weak = tmp_path / "weak"
    r = _bench("run", "--scheme", "toy_patch", "--attack", "none", "--profile", "smoke", "--out", str(weak), env={**env, "WMBENCH_TOY_WEAK": "1"})
    assert r.returncode == 0, r.stderr
    bad = _bench("check", "--baseline", str(base / "leaderboard.csv"), "--results", str(weak), env=env)
    assert bad.returncode == 1
    assert "toy_patch" in bad.stdout


def test_process_pool_matches_local(tmp_path, small_grid):
    spec, _, _ = small_grid
    pool_spec = _spec(tmp_path / "pool", schemes=["none", "zhang"], attacks=["none"])
    run_grid(pool_spec, jobs=2)
    a = Store(spec.out).results().query("attack == 'none'").reset_index(drop=True)
    b = Store(pool_spec.out).results().reset_index(drop=True)
    cols = ["scheme", "nc_acc_before", "wm_acc_before", "nc_acc_after"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_ray_executor_matches_local(tmp_path, small_grid):
    pytest.importorskip("ray")
    spec, _, _ = small_grid
    ray_spec = _spec(tmp_path / "ray", schemes=["none", "zhang"], attacks=["none"])
    run_grid(ray_spec, executor="ray")
    a = Store(spec.out).results().query("attack == 'none'").reset_index(drop=True)
    b = Store(ray_spec.out).results().reset_index(drop=True)
    cols = ["scheme", "nc_acc_before", "wm_acc_before", "nc_acc_after"]
    # Ray workers run with one intra-op thread (OMP_NUM_THREADS=1), the local run with the
    # default; float reduction order then differs, so accuracies agree within a few test images.
    pd.testing.assert_frame_equal(a[cols], b[cols], atol=0.02, check_exact=False)


def test_cpu_eval_layout_keeps_predictions():
    """Channels-last 128-row batches (the CPU eval path) predict exactly what a plain forward pass does."""
    import torch

    from harness.evaluate import predict
    from tasks import get_task

    task = get_task("digit-mini", profile="smoke")
    torch.manual_seed(0)
    model = task.model().eval()
    data = task.data("test").take(300, seed=0)
    with torch.no_grad():
        plain = model(data.floats()).argmax(1)
    assert torch.equal(predict(model, data), plain)
    assert torch.equal(predict(model, data, batch_size=1000), plain)


def test_traffic_piracy_epochs_follow_the_paper():
    """Li et al. 7.2: Traffic pirates train 10 epochs against every Zhang trigger kind, 25 against null / Adi."""
    from tasks.gtsrb import Traffic

    assert {s: Traffic.piracy_epochs_for(Traffic, s) for s in ("zhang", "zhang_noise", "zhang_unrelated")} == \
        {"zhang": 10, "zhang_noise": 10, "zhang_unrelated": 10}
    assert Traffic.piracy_epochs_for(Traffic, "null_embedding") == Traffic.piracy_epochs_for(Traffic, "adi") == 25


def test_extraction_ood_data_gets_another_tasks_images(tmp_path):
    """`ood_data` used to fail through `bench run` (the harness never passed the other task's images)."""
    from harness.grid import ood_task_name

    assert ood_task_name("digit", {}) == "traffic" and ood_task_name("traffic@a", {}) == "digit"
    spec = _spec(tmp_path / "run", attacks=["extraction"], settings={"extraction": ["ood_data"]},
                 attack_params={"extraction": {"ood_task": "digit-mini", "n": 300, "epochs": 1}})
    run_grid(spec)
    row = Store(spec.out).results().iloc[0]
    metrics = json.loads(row["metrics"])
    assert metrics["source"] == "ood_data" and metrics["ood_task"] == "digit-mini" and metrics["data_size"] == 300
    # an unknown query task fails in one line before any model is trained
    bad = _spec(tmp_path / "bad", attacks=["extraction"], settings={"extraction": ["ood_data"]},
                attack_params={"extraction": {"ood_task": "nosuch"}})
    with pytest.raises(BadInput, match="unknown task 'nosuch'"):
        run_grid(bad)
    assert not (tmp_path / "bad" / "models").exists()


def test_progress_lines_for_logs(monkeypatch, capsys):
    """Background runs log one line per epoch and per cell; WMBENCH_PROGRESS=0 silences them."""
    from harness import trainer

    monkeypatch.delenv("WMBENCH_PROGRESS", raising=False)
    monkeypatch.setattr(trainer.sys.stderr, "isatty", lambda: False, raising=False)
    assert trainer.progress_mode() == "lines"
    trainer.progress_line("grid: 1/2 cells run")
    assert "grid: 1/2 cells run" in capsys.readouterr().err
    monkeypatch.setenv("WMBENCH_PROGRESS", "0")
    trainer.progress_line("silent")
    assert trainer.progress_mode() == "off" and "silent" not in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_code_version_marks_uncommitted_code(tmp_path):
    """Rows name the commit; a changed or untracked file in a code folder adds ``.dirty``, other folders do not."""
    from harness.grid import code_version

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "a.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "c")
    clean = code_version(tmp_path)
    assert "+" in clean and not clean.endswith(".dirty")
    (tmp_path / "notes.txt").write_text("not code\n")
    assert code_version(tmp_path) == clean
    (tmp_path / "harness" / "a.py").write_text("x = 2\n")
    assert code_version(tmp_path) == clean + ".dirty"
    git("checkout", "--", "harness/a.py")
    (tmp_path / "schemes").mkdir()
    (tmp_path / "schemes" / "plugin.py").write_text("y = 1\n")
    assert code_version(tmp_path) == clean + ".dirty"


def test_a_copy_of_the_store_file_alone_holds_every_written_cell(tmp_path):
    """A process killed after a cell (a deadline, a lost GPU lease) must not leave the cell only in
    results.sqlite-wal: the device tool and rsync copy results.sqlite alone."""
    from _report_fixture import one_row_store

    store = one_row_store(tmp_path / "run")  # still open, as in a process that is about to be killed
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(store.path, copy / store.path.name)  # the main file only, no -wal / -shm beside it
    assert list(Store(copy).results()["cell_id"]) == ["c0"]


def test_stored_json_is_strict_so_sqlite_reads_every_row(tmp_path):
    """A watermark-free model's NaN mark accuracy once made ``json_extract`` fail on the whole table
    ("malformed JSON"); it is stored as null now, and a merge re-encodes rows written before."""
    import sqlite3

    old = Store(tmp_path / "old")
    old.write_cell("c0", {"task": "t", "seed": 0, "metrics": {"wm": float("nan"), "n": 1}}, [{"loss": float("inf")}])
    # a row as an earlier version wrote it: Python's non-standard NaN token
    old.conn.execute("INSERT INTO results (cell_id, task, seed, metrics) VALUES ('c1', 't', 1, '{\"wm\": NaN, \"n\": 2}')")
    old.write_claims("t", "smoke", "none", 0, {"keys": 3, "rate": float("nan")})
    merged = Store(tmp_path / "merged")
    merged.merge_from(old)
    for store in (old, merged):
        conn = sqlite3.connect(store.path)
        if store is merged:
            assert conn.execute("SELECT json_extract(metrics, '$.n') FROM results ORDER BY cell_id").fetchall() == [(1,), (2,)]
            assert conn.execute("SELECT json_extract(metrics, '$.wm') FROM results").fetchall() == [(None,), (None,)]
        else:
            assert conn.execute("SELECT json_extract(metrics, '$.n') FROM results WHERE cell_id='c0'").fetchone() == (1,)
        assert conn.execute("SELECT json_extract(payload, '$.loss') FROM curves").fetchone() == (None,)
        assert conn.execute("SELECT json_extract(payload, '$.rate') FROM claims").fetchone() == (None,)


def test_cpu_rows_name_the_cpu_and_its_kernels(tmp_path):
    """CPU training is bit-reproducible only on the same kind of CPU, so a row's device says which one."""
    import platform

    import torch

    from harness.device import cpu_model, device_label

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core Processor\n")
    assert cpu_model(info) == "AMD EPYC 9654 96-Core Processor"
    arm = tmp_path / "cpuinfo-arm"  # e.g. ARM: no model name line
    arm.write_text("processor\t: 0\nCPU implementer\t: 0x41\n")
    fallback = platform.processor() or platform.machine()
    assert cpu_model(arm) == cpu_model(tmp_path / "missing") == fallback
    label = device_label(torch.device("cpu"))
    assert label.startswith(f"cpu:{cpu_model()} ({torch.backends.cpu.get_cpu_capability()}) x")
    assert label.endswith(f"threads, torch {torch.__version__}")
