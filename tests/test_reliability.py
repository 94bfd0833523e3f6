"""Reliability and security: untrusted model files, forged ownership claims, kill -9, two writers, determinism.

The grid tests run the real ``bench`` CLI (``harness.cli.main``) in subprocesses on
``digit-tiny``: digit-mini's smoke profile cut to 512 train / 256 test / 256 attacker
images and 1 epoch, registered by a small launcher (``LAUNCHER``) so that a whole grid
takes seconds. Everything else (grid, cache, store, schemes, attacks) is the code a
user runs. Counts of faults injected and forgeries tried are in results/RELIABILITY.md.
"""
from __future__ import annotations

import base64
import json
import os
import pickle
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from harness.device import device_label
from harness.errors import BadInput

REPO = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------- untrusted model files


class _Payload:
    """Unpickling this runs code: it writes ``marker``. A loader that unpickles is exploitable."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _malicious_files(folder: Path, marker: Path) -> dict[str, Path]:
    """Every pickle flavour a model file could arrive in, each carrying the payload."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {"head.weight": _Payload(marker), "head.bias": torch.zeros(10)}
    files = {}
    for proto in (0, 2, 4, 5):
        files[f"pickle-p{proto}"] = folder / f"p{proto}.safetensors"
        files[f"pickle-p{proto}"].write_bytes(pickle.dumps(state, protocol=proto))
    files["torch-zip"] = folder / "zip.safetensors"
    torch.save(state, files["torch-zip"])
    files["torch-legacy"] = folder / "legacy.safetensors"
    torch.save(state, files["torch-legacy"], _use_new_zipfile_serialization=False)
    files["pt-extension"] = folder / "model.pt"
    torch.save(state, files["pt-extension"])
    return files


def test_payload_is_armed(tmp_path):
    """Control: the payload really runs code when unpickled (so 'marker absent' below means 'refused')."""
    marker = tmp_path / "control-marker"
    for path in _malicious_files(tmp_path / "m", marker).values():
        marker.unlink(missing_ok=True)
        if path.read_bytes()[:2] == b"PK" or path.name == "legacy.safetensors":
            copy = tmp_path / "control.pt"  # torch.load hands *.safetensors names to safetensors
            copy.write_bytes(path.read_bytes())
            torch.load(copy, weights_only=False)
        else:
            pickle.loads(path.read_bytes())
        assert marker.exists(), path


def test_pickle_model_files_are_refused_and_never_run(tmp_path, mini_smoke):
    from click.testing import CliRunner

    from harness.cache import ModelCache
    from harness.cli import cli
    from harness.modelio import load_into, load_state, save_model
    from schemes.crypto import generate_identity, make_certificate, write_certificate

    marker = tmp_path / "marker"
    files = _malicious_files(tmp_path / "models", marker)
    cert = tmp_path / "certificate.json"
    write_certificate(make_certificate(generate_identity("alice")), cert)
    refused = 0
    for name, path in files.items():
        with pytest.raises(BadInput):
            load_state(path)
        with pytest.raises(BadInput):
            load_into(mini_smoke.model(), path)
        try:
            from harness.cli_keys import load_model_file
        except ImportError:
            pass
        else:
            with pytest.raises(BadInput):
                load_model_file(path, mini_smoke, None)
        res = CliRunner().invoke(cli, ["verify", "--task", "digit-mini", "--profile", "smoke", "--model", str(path),
                                       "--certificate", str(cert)])
        assert res.exit_code == 2 and res.stderr.startswith("error:") and "Traceback" not in res.stderr, (name, res.stderr)
        refused += 4
    # a pickle planted in the model cache is retrained over, never loaded
    cache = ModelCache(tmp_path / "cache")
    identity = {"task": "digit-mini", "test": "planted"}
    from harness.cache import cache_key

    planted = cache.path(cache_key(identity))
    planted.write_bytes(files["pickle-p4"].read_bytes())
    planted.with_suffix(".json").write_text("{}")
    trained = []
    model, meta, cached = cache.get_or_train(identity, mini_smoke.model, lambda m, ckpt: trained.append(1) or {"ok": 1})
    assert not cached and trained == [1]
    assert set(load_state(planted)) == set(mini_smoke.model().state_dict())  # replaced by a real safetensors file
    assert not marker.exists(), "a pickle payload ran"
    assert refused == 4 * len(files)
    # a good file still loads (the refusals are not a blanket failure)
    good = tmp_path / "good.safetensors"
    save_model(mini_smoke.model(), good)
    load_into(mini_smoke.model(), good)


def test_non_finite_and_mismatched_weights_are_refused(tmp_path, mini_smoke):
    from harness.modelio import load_into, save_model

    for kind in ("nan", "inf", "shape", "extra"):
        m = mini_smoke.model()
        with torch.no_grad():
            if kind == "nan":
                m.head.weight[0, 0] = float("nan")
            elif kind == "inf":
                m.body.conv_1.bias[0] = float("inf")
            elif kind == "shape":
                m.reset_classifier(43)
            else:
                m.register_buffer("extra", torch.zeros(1))
        save_model(m, tmp_path / f"{kind}.safetensors")
        with pytest.raises(BadInput):
            load_into(mini_smoke.model(), tmp_path / f"{kind}.safetensors")


# --------------------------------------------------------------------------- forged ownership claims


def _forgeries(genuine: dict, owner) -> dict[str, dict]:
    """Certificates an attacker could present for the owner's model, each built from the genuine one."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from schemes.crypto import PatternParams, generate_identity, make_certificate, signed_message

    def edit(**changes) -> dict:
        obj = json.loads(json.dumps(genuine))
        for k, v in changes.items():
            if k.startswith("pattern."):
                obj["pattern"][k.split(".", 1)[1]] = v
            else:
                obj[k] = v
        return obj

    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    mallory = generate_identity("mallory")
    mallory_pem = mallory.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    pattern = PatternParams(genuine["pattern"]["n"], genuine["pattern"]["lambda"], genuine["pattern"]["threshold"])
    msg = signed_message(genuine["owner_id"], genuine["timestamp"], pattern)
    owner_pub = serialization.load_pem_public_key(genuine["public_key"].encode())
    n = owner_pub.public_numbers().n
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_pem = weak.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return {
        "random-signature": edit(signature=b64(os.urandom(256))),
        "zero-signature": edit(signature=b64(bytes(256))),
        "signature-one": edit(signature=b64((1).to_bytes(256, "big"))),  # s^e = 1: textbook-RSA forgery
        "signature-n-minus-1": edit(signature=b64((n - 1).to_bytes(256, "big"))),
        "signature-truncated": edit(signature=genuine["signature"][:-8]),
        "signature-not-base64": edit(signature="***"),
        "resigned-by-other-key": edit(signature=b64(mallory.private_key.sign(msg, padding.PKCS1v15(), hashes.SHA256()))),
        "public-key-swapped": edit(public_key=mallory_pem),
        "replay-other-owner": edit(owner_id="mallory"),
        "replay-other-timestamp": edit(timestamp="2020-01-01T00:00:00Z"),
        "pattern-lambda-edited": edit(**{"pattern.lambda": genuine["pattern"]["lambda"] / 2}),
        "pattern-n-edited": edit(**{"pattern.n": genuine["pattern"]["n"] - 1}),
        "pattern-threshold-lowered": edit(**{"pattern.threshold": 0.1}),
        "owner-key-sha1-signature": edit(signature=b64(owner.private_key.sign(msg, padding.PKCS1v15(), hashes.SHA1()))),
        "owner-key-pss-signature": edit(signature=b64(owner.private_key.sign(
            msg, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH), hashes.SHA256()))),
        "weak-1024-bit-key": edit(public_key=weak_pem, signature=b64(weak.sign(msg, padding.PKCS1v15(), hashes.SHA256()))),
        "extra-field": {**edit(), "note": "trust me"},
        "mallory-own-cert-renamed": {**make_certificate(mallory, pattern).as_dict(), "owner_id": genuine["owner_id"]},
    }


def test_forged_certificates_are_rejected(tmp_path, mini_smoke, monkeypatch):
    """Every forgery fails the signature check, in the library and in ``bench verify``; the genuine one passes.

    ``predict`` is patched to answer what each half asks (the true label under P, y_W under P~) so
    that the model would verify any pattern: only the signature check stands between a forgery and a
    false ownership claim.
    """
    from click.testing import CliRunner

    import schemes.null_embedding as ne
    from harness.cli import cli
    from harness.modelio import save_model
    from harness.types import Key
    from schemes.crypto import generate_identity, make_certificate, verify_signature

    alice = generate_identity("alice")
    genuine = make_certificate(alice).as_dict()
    assert verify_signature(genuine)

    def obliging(model, data, transform=None, **kwargs):
        if transform.__name__ == "null":
            return data.y.cpu()
        return torch.full((len(data.y),), transform.__self__.y_w, dtype=torch.long)

    monkeypatch.setattr(ne, "predict", obliging)
    scheme, test = ne.NullEmbedding(), mini_smoke.data("test")
    model = mini_smoke.model()
    assert scheme.verify(model, Key(scheme.name, genuine), mini_smoke, test).verified  # the control
    model_path = tmp_path / "m.safetensors"
    save_model(model, model_path)
    accepted = []
    forgeries = _forgeries(genuine, alice)
    for name, cert in forgeries.items():
        if verify_signature(cert):
            accepted.append((name, "verify_signature"))
        ver = scheme.verify(model, Key(scheme.name, cert), mini_smoke, test)
        if ver.verified or ver.details.get("signature_valid"):
            accepted.append((name, "NullEmbedding.verify"))
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(cert))
        res = CliRunner().invoke(cli, ["verify", "--task", "digit-mini", "--profile", "smoke", "--model", str(model_path),
                                       "--certificate", str(path)])
        if res.exit_code != 2 or not res.stderr.startswith("error:") or "Traceback" in res.stderr:
            accepted.append((name, f"bench verify exit {res.exit_code}: {res.stderr.strip()[:120]}"))
    assert accepted == []
    assert len(forgeries) == 18


def test_pirate_with_own_valid_certificate_gets_its_own_pattern_not_the_owners():
    """A pirate's valid certificate verifies, but yields a different pattern and label: it proves nothing about alice's."""
    from schemes.crypto import generate_identity, make_certificate
    from schemes.null_embedding import Transform

    alice, mallory = make_certificate(generate_identity("alice")), make_certificate(generate_identity("mallory"))
    ta, tm = (Transform(c.signature, 10, (1, 28, 28)) for c in (alice, mallory))
    assert (ta.row, ta.col, ta.bits.tolist()) != (tm.row, tm.col, tm.bits.tolist())


# --------------------------------------------------------------------------- grids in subprocesses

LAUNCHER = '''
"""Test-only launcher: the real `bench` CLI with one extra, tiny task (digit-tiny)."""
import sys
from tasks import TASKS
from tasks.base import ProfileSpec
from tasks.digit import DigitMini


class DigitTiny(DigitMini):
    name = "digit-tiny"
    description = "test-only: digit-mini smoke cut to 512 train / 256 test / 256 attacker images, 1 epoch"
    profiles = {**DigitMini.profiles,
                "smoke": ProfileSpec("smoke", DigitMini.profiles["smoke"].recipe.replace(epochs=1),
                                     train_size=512, test_size=256, attacker_size=256)}


TASKS.register("digit-tiny")(DigitTiny)
from harness.cli import main  # noqa: E402

sys.argv[0] = "bench"
main()
'''

SCHEMES = ["none", "zhang"]
ATTACKS = {"none": "default", "pruning": "magnitude"}
RATES = [0.3, 0.6]
GRID = ["--task", "digit-tiny", "--profile", "smoke"]
PRUNING_ARGS = ["--setting", "pruning:magnitude", "--param", f"pruning.rates={json.dumps(RATES)}"]
NUMBERS = ["nc_acc_clean", "nc_acc_before", "wm_acc_before", "verified_before", "nc_acc_after", "wm_acc_after",
           "verified_after"]


def expected_cells(schemes=SCHEMES, attacks=ATTACKS) -> set[str]:
    from harness.grid import Cell

    return {Cell("digit-tiny", "digit_cnn", "smoke", s, a, setting, 0).cell_id for s in schemes for a, setting in attacks.items()}


@pytest.fixture(scope="module")
def launcher(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("launcher") / "bench_tiny.py"
    p.write_text(LAUNCHER)
    return p


def _env() -> dict[str, str]:
    return {**os.environ, "WMBENCH_PROGRESS": "0", "PYTHONPATH": str(REPO)}


def _spawn(launcher: Path, out: Path, schemes=SCHEMES, attacks=tuple(ATTACKS), log: Path | None = None) -> subprocess.Popen:
    # --setting / --param may only name attacks that run (bench run refuses strays)
    args = [sys.executable, str(launcher), "run", *GRID, *(PRUNING_ARGS if "pruning" in attacks else []),
            "--scheme", ",".join(schemes), "--attack", ",".join(attacks), "--out", str(out)]
    with open(log or out.with_name(out.name + ".log"), "ab") as err:
        return subprocess.Popen(args, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=err)


def _finish(proc: subprocess.Popen, timeout: float = 400) -> None:
    rc = proc.wait(timeout=timeout)
    assert rc == 0, f"bench run exited {rc}: {Path(proc.args[-1] + '.log').read_text()[-2000:]}"


def _rows(out: Path) -> int:
    db = out / "results.sqlite"
    if not db.is_file():
        return 0
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM results").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def _kill(proc: subprocess.Popen) -> bool:
    """SIGKILL the run we started; True if it was still running (a fault actually injected)."""
    alive = proc.poll() is None
    if alive:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return alive


def _wait_rows(out: Path, proc: subprocess.Popen, at_least: int, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while _rows(out) < at_least and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.02)


def _store_state(out: Path) -> dict:
    """Integrity, rows and their numbers, curve consistency and cache entries of a run folder."""
    from harness.modelio import load_state

    conn = sqlite3.connect(out / "results.sqlite", timeout=30)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        ids = [r[0] for r in conn.execute("SELECT cell_id FROM results")]
        numbers = {r[0]: r[1:] for r in conn.execute(f"SELECT cell_id, {', '.join(NUMBERS)} FROM results")}
        curves = dict(conn.execute("SELECT cell_id, count(*) FROM curves GROUP BY cell_id").fetchall())
        orphans = conn.execute("SELECT count(*) FROM curves WHERE cell_id NOT IN (SELECT cell_id FROM results)").fetchone()[0]
    finally:
        conn.close()
    models = out / "models"
    entries = sorted(p for p in models.glob("*.safetensors")) if models.is_dir() else []
    for p in entries:  # every visible entry is a complete, loadable model
        assert not p.name.startswith("."), p
        load_state(p)
    leftovers = sorted(p.name for p in models.iterdir() if p.name.startswith(".")) if models.is_dir() else []
    return {"integrity": integrity, "ids": ids, "numbers": numbers, "curves": curves, "orphans": orphans,
            "entries": [p.name for p in entries], "leftovers": leftovers}


def _assert_consistent(state: dict) -> None:
    """No partial cell: every pruning row has all its curve steps, no curve without its row, no duplicates."""
    assert state["integrity"] == "ok"
    assert len(state["ids"]) == len(set(state["ids"]))
    assert state["orphans"] == 0
    for cid in state["ids"]:
        if "|pruning|" in cid:
            assert state["curves"].get(cid) == len(RATES), (cid, state["curves"])


@pytest.fixture(scope="module")
def reference_run(launcher, tmp_path_factory) -> dict:
    """One uninterrupted run of the grid: the numbers every other run must reproduce."""
    out = tmp_path_factory.mktemp("ref") / "run"
    _finish(_spawn(launcher, out))
    state = _store_state(out)
    _assert_consistent(state)
    assert set(state["ids"]) == expected_cells()
    return {"out": out, **state}


def _board_numbers(out: Path) -> pd.DataFrame:
    board = pd.read_csv(out / "leaderboard.csv", dtype=str, keep_default_na=False)
    cols = ["scheme", "attack", "setting"] + [c for c in board.columns if c.startswith(("nc_", "wm_", "verified_"))]
    return board[cols].sort_values(["scheme", "attack", "setting"]).reset_index(drop=True)


def test_determinism_same_seed_same_numbers(launcher, reference_run, tmp_path):
    out = tmp_path / "again"
    _finish(_spawn(launcher, out))
    assert _store_state(out)["numbers"] == reference_run["numbers"]  # exact float equality
    pd.testing.assert_frame_equal(_board_numbers(out), _board_numbers(reference_run["out"]))
    # the numbers are real (a trained model, a verified zhang watermark), not a constant
    nums = reference_run["numbers"]
    zhang = next(v for k, v in nums.items() if "|zhang|none|" in k)
    assert zhang[NUMBERS.index("verified_before")] == 1.0


def test_kill_9_and_resume(launcher, reference_run, tmp_path):
    """kill -9 three times at different moments, resume: no row lost or doubled, the same numbers."""
    out = tmp_path / "crash"
    rng = random.Random(20261125)
    faults = 0
    # 1: right after the first row is committed (mid-grid)
    p = _spawn(launcher, out)
    _wait_rows(out, p, 1)
    faults += _kill(p)
    first = _store_state(out)
    _assert_consistent(first)
    assert 1 <= len(first["ids"]) < len(expected_cells())
    # 2: at a random moment (import, training, attack or a write)
    p = _spawn(launcher, out)
    time.sleep(rng.uniform(0.5, 2.0))  # short: on an idle CPU the remaining grid can finish within seconds
    faults += _kill(p)
    _assert_consistent(_store_state(out))
    # 3: as soon as one more row lands
    n = _rows(out)
    p = _spawn(launcher, out)
    _wait_rows(out, p, n + 1)
    faults += _kill(p)
    _assert_consistent(_store_state(out))
    # resume to completion
    _finish(_spawn(launcher, out))
    final = _store_state(out)
    _assert_consistent(final)
    assert set(final["ids"]) == expected_cells()  # rows lost: 0, duplicates: 0
    assert final["numbers"] == reference_run["numbers"]
    assert faults >= 2, "the runs finished before they could be killed; the test proved nothing"
    print(f"faults injected: {faults}; leftover temp files in models/: {final['leftovers']}")


def test_two_writers_on_one_folder(launcher, reference_run, tmp_path):
    """Two overlapping grids at once on the same --out: the union, once each, with the reference numbers."""
    out = tmp_path / "shared"
    p1 = _spawn(launcher, out, schemes=["none", "zhang"], attacks=["none"], log=tmp_path / "p1.log")
    p2 = _spawn(launcher, out, schemes=["zhang", "none"], attacks=["pruning", "none"], log=tmp_path / "p2.log")
    for p in (p1, p2):
        assert p.wait(timeout=400) == 0
    state = _store_state(out)
    _assert_consistent(state)
    assert set(state["ids"]) == expected_cells()
    assert state["numbers"] == reference_run["numbers"]


def _open_store_together(folder, barrier, answers):
    from harness.store import Store

    barrier.wait()
    try:
        Store(folder).close()
        answers.put("ok")
    except Exception as exc:  # noqa: BLE001 - the answer is the test's evidence
        answers.put(repr(exc))


def test_two_processes_can_create_one_store_at_once(tmp_path):
    """Switching a new file to WAL fails at once ("database is locked") for the second of two openers
    unless the store retries it: measured 32 of 120 openers failing without the retry."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn" if sys.platform == "win32" else "fork")
    answers = []
    for i in range(15):
        barrier, queue = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_open_store_together, args=(tmp_path / str(i), barrier, queue)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        answers += [queue.get(timeout=10) for _ in procs]
    assert answers == ["ok"] * 30


# --------------------------------------------------------------------------- a kill inside the write transaction

_KILL_IN_WRITE = '''
import os, signal, sys
from harness.store import Store

store = Store(sys.argv[1])
store.write_cell("good", {"task": "t", "seed": 0, "nc_acc_after": 0.9}, [{"step": 0}, {"step": 1}])


class KillMidTransaction:
    """The results row is inserted, then the process dies before the curve rows and COMMIT."""

    def __init__(self, conn):
        self.conn = conn

    def executemany(self, *a, **k):
        os.kill(os.getpid(), signal.SIGKILL)

    def __getattr__(self, name):
        return getattr(self.conn, name)


store.conn = KillMidTransaction(store.conn)
store.write_cell("torn", {"task": "t", "seed": 1, "nc_acc_after": 0.5}, [{"step": 0}, {"step": 1}])
print("not reached")
'''


def test_kill_inside_write_cell_leaves_no_partial_row(tmp_path):
    from harness.store import Store

    script = tmp_path / "kill_in_write.py"
    script.write_text(_KILL_IN_WRITE)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "run")], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    store = Store(tmp_path / "run")
    try:
        assert store.integrity_ok()
        assert store.done_cells() == {"good"}
        assert len(store.curves()) == 2  # only the committed cell's steps
        store.write_cell("torn", {"task": "t", "seed": 1}, [{"step": 0}])  # the store is still writable
        assert store.done_cells() == {"good", "torn"}
    finally:
        store.close()


def _three_epoch_trainer(task, scheme_name: str, epochs_run: list[int]):
    """(run, data, recipe): ``run(checkpoint, stop_after)`` trains 3 epochs of ``scheme_name`` on ``data``
    (640 digit-mini images) from the same initial weights, checkpointing every epoch, appending each epoch
    it trains to ``epochs_run`` and raising KeyboardInterrupt after epoch ``stop_after``; it returns
    (model, log)."""
    from harness.trainer import train
    from schemes import get_scheme

    scheme = get_scheme(scheme_name)
    key = scheme.keygen(task, 3)
    data = task.data("train").take(640, seed=0)
    recipe = task.recipe.replace(epochs=3)

    def run(checkpoint=None, stop_after=None):
        torch.manual_seed(0)
        model = task.model()
        epochs_run.clear()

        def stop(epoch, step, m):
            epochs_run.append(epoch + 1)
            if stop_after is not None and epoch + 1 == stop_after:
                raise KeyboardInterrupt
        log = train(model, data, recipe, hooks=scheme.hooks(key, task), seed=0, device=torch.device("cpu"),
                    callback=stop, checkpoint=checkpoint, checkpoint_every_s=0)
        return model, log
    return run, data, recipe


@pytest.mark.parametrize("scheme_name", ["null_embedding", "deepsigns"])
def test_interrupted_training_resumes_bit_identically(tmp_path, mini_smoke, scheme_name):
    """A training stopped after its second epoch resumes from the checkpoint of its first and ends
    with exactly the weights of an uninterrupted run (hook generators, optimiser state and the hook's
    own parameters, DeepSigns' centres, all restored); the checkpoint is gone afterwards."""
    from harness.trainer import train

    epochs_run: list[int] = []
    run, data, recipe = _three_epoch_trainer(mini_smoke, scheme_name, epochs_run)

    reference, ref_log = run()
    ckpt = tmp_path / "m.partial.pt"
    with pytest.raises(KeyboardInterrupt):
        run(ckpt, stop_after=2)
    assert ckpt.is_file() and torch.load(ckpt, weights_only=True)["epoch"] == 1
    resumed, log = run(ckpt)
    assert epochs_run == [2, 3] and not ckpt.exists()  # epoch 1 was not trained again
    assert log.losses == ref_log.losses and log.steps == ref_log.steps and log.samples == ref_log.samples
    # the log names each process's epochs; a training run in one go names none
    cpu = device_label(torch.device("cpu"))
    assert log.resumed == [{"device": cpu, "epochs": [0, 1]}, {"device": cpu, "epochs": [1, 3]}]
    assert ref_log.resumed == []
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    # a checkpoint of another training (here: another seed) is discarded, not resumed
    with pytest.raises(KeyboardInterrupt):
        run(ckpt, stop_after=2)
    other = train(mini_smoke.model(), data, recipe, seed=1, device=torch.device("cpu"), checkpoint=ckpt)
    assert other.epochs == 3 and len(other.losses) == 3 and not ckpt.exists()
    # a torn file is discarded too: the training starts over instead of failing
    ckpt.write_bytes(b"PK\x03\x04 torn")
    _, torn = run(ckpt)
    assert epochs_run == [1, 2, 3] and torn.losses == ref_log.losses and not ckpt.exists()


def test_a_gpu_checkpoint_resumes_on_the_cpu(tmp_path, mini_smoke):
    """A partial owner saved on a GPU loan holds a CUDA hook generator (a 16-byte Philox state) that a
    CPU generator cannot take (the thirteenth session's DeepSigns owner failed so): the CPU resumes at
    the saved epoch with that generator reseeded from the saved state, the same way every time."""
    ckpt = tmp_path / "m.partial.pt"
    epochs_run: list[int] = []
    run, _, _ = _three_epoch_trainer(mini_smoke, "null_embedding", epochs_run)
    with pytest.raises(KeyboardInterrupt):
        run(ckpt, stop_after=2)
    state = torch.load(ckpt, weights_only=True)
    state["rng"]["hook_gen"] = torch.tensor([7, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0], dtype=torch.uint8)
    state["history"] = [{"device": "cuda:NVIDIA H200", "epochs": [0, 1]}]
    torch.save(state, ckpt)
    gpu_saved = ckpt.read_bytes()
    first, log = run(ckpt)
    assert epochs_run == [2, 3] and not ckpt.exists()
    # the log (and so the row) says which device trained which epochs, not only the last device
    assert log.resumed == [{"device": "cuda:NVIDIA H200", "epochs": [0, 1]},
                           {"device": device_label(torch.device("cpu")), "epochs": [1, 3]}]
    ckpt.write_bytes(gpu_saved)
    again, _ = run(ckpt)
    for (name, a), b in zip(first.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name


def test_checkpoint_interval_env_is_checked(tmp_path, monkeypatch):
    """A bad WMBENCH_CHECKPOINT_EVERY is one BadInput line when a checkpointed training starts
    (never an import-time traceback), and trainings without a checkpoint never read it."""
    from harness.errors import BadInput
    from harness.resume import EVERY_S, Checkpointer

    for bad in ("abc", "-5", "nan"):
        monkeypatch.setenv("WMBENCH_CHECKPOINT_EVERY", bad)
        with pytest.raises(BadInput, match="WMBENCH_CHECKPOINT_EVERY"):
            Checkpointer(tmp_path / "m.partial.pt", {})
        assert Checkpointer(None, {}).every_s == EVERY_S
    monkeypatch.setenv("WMBENCH_CHECKPOINT_EVERY", "60")
    assert Checkpointer(tmp_path / "m.partial.pt", {}).every_s == 60.0


def test_an_interrupted_extraction_resumes_bit_identically(tmp_path, mini_smoke, mini_clean, monkeypatch):
    """The harness hands every attack cell a checkpoint stem: an extraction stopped after its second
    epoch resumes from its first and ends with an uninterrupted run's substitute, and the grid's stem
    differs between cells, owners and attack params (a checkpoint never crosses cells)."""
    import copy

    import attacks.extraction as extraction
    from attacks import AttackContext, get_attack
    from harness import resume
    from harness.cache import ModelCache
    from schemes import get_scheme

    monkeypatch.setenv("WMBENCH_CHECKPOINT_EVERY", "0")
    scheme = get_scheme("none")
    cache = ModelCache(tmp_path / "models")
    stem = cache.attack_stem({"cell": "c1", "owner": "k", "attack_version": "1", "params": {"epochs": 3}})
    assert stem != cache.attack_stem({"cell": "c2", "owner": "k", "attack_version": "1", "params": {"epochs": 3}})
    assert stem != cache.attack_stem({"cell": "c1", "owner": "k2", "attack_version": "1", "params": {"epochs": 3}})
    assert stem != cache.attack_stem({"cell": "c1", "owner": "k", "attack_version": "1", "params": {"epochs": 4}})

    def ctx(checkpoints):
        return AttackContext(task=mini_smoke, scheme=scheme, owner_key=scheme.keygen(mini_smoke, 0),
                             recipe=mini_smoke.recipe, attacker=mini_smoke.data("attacker"), test=mini_smoke.data("test"),
                             seed=0, setting="n1000", device=torch.device("cpu"),
                             params={"n": 300, "epochs": 3, "batch_size": 32}, checkpoints=checkpoints)
    assert ctx(None).checkpoint() is None
    assert ctx(stem).checkpoint().name.endswith(".attack.partial.pt")
    assert ctx(stem).checkpoint("key1").name.endswith(".attack.key1.partial.pt")

    attack = get_attack("extraction")
    torch.manual_seed(5)  # the harness seeds before every attack; dropout draws from this stream
    reference = attack.run(copy.deepcopy(mini_clean), ctx(None))
    measured = extraction.measure_epochs
    epochs_run: list[int] = []

    def stopping(c, epochs, stop_after=None):
        inner = measured(c, epochs)

        def callback(epoch, step, model):
            epochs_run.append(epoch + 1)
            if epoch + 1 == stop_after:
                raise KeyboardInterrupt
            return inner(epoch, step, model)
        return callback
    monkeypatch.setattr(extraction, "measure_epochs", lambda c, e: stopping(c, e, stop_after=2))
    torch.manual_seed(5)
    with pytest.raises(KeyboardInterrupt):
        attack.run(copy.deepcopy(mini_clean), ctx(stem))
    assert ctx(stem).checkpoint().is_file()
    epochs_run.clear()
    monkeypatch.setattr(extraction, "measure_epochs", lambda c, e: stopping(c, e))
    torch.manual_seed(5)
    resume.RESUMED.clear()
    resumed = attack.run(copy.deepcopy(mini_clean), ctx(stem))
    assert epochs_run == [2, 3] and not ctx(stem).checkpoint().exists()  # epoch 1 was not trained again
    # what the harness puts in the row's metrics["resumed"], by training part; taken once
    cpu = device_label(torch.device("cpu"))
    other = stem.with_name("other.attack")
    resume.RESUMED[str(other.with_name("other.attack.partial.pt"))] = []  # another cell's entry stays
    assert resume.take_resumed(stem) == {"": [{"device": cpu, "epochs": [0, 1]}, {"device": cpu, "epochs": [1, 3]}]}
    assert resume.take_resumed(stem) == {} and resume.take_resumed(None) == {}
    assert list(resume.RESUMED) == [str(other.with_name("other.attack.partial.pt"))]
    resume.RESUMED.clear()
    assert resumed.metrics["substitute_nc_acc"] == reference.metrics["substitute_nc_acc"]
    assert resumed.cost.samples == reference.cost.samples
    for (name, a), b in zip(reference.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_every_long_attack_training_has_its_own_checkpoint(tmp_path, mini_smoke, mini_clean, monkeypatch):
    """Each training inside a cell (a pirate key, a fine-pruning rate, transfer's student and recovery)
    checkpoints to its own file under the cell's stem: two trainings sharing one file would resume
    each other's state (same recipe, data size, seed and shapes pass the fingerprint)."""
    import copy

    import harness.trainer as trainer
    from attacks import AttackContext, get_attack
    from schemes import get_scheme
    from tasks.classsplit import ClassSplit

    paths: list = []

    class Recording(trainer.Checkpointer):
        def __init__(self, path, fp, every_s=None, device=""):
            paths.append(path)
            super().__init__(path, fp, every_s, device)
    monkeypatch.setattr(trainer, "Checkpointer", Recording)
    stem = tmp_path / "cell.attack"
    cases = {
        ("piracy", "paper"): {"pirate_keys": 2, "epochs": 1},
        ("pruning", "fine_pruning"): {"rates": [0.3, 0.6]},
        ("finetune", "ftll"): {"epochs": 1},
        ("extraction", "n1000"): {"n": 100, "epochs": 1},
        ("transfer", "added"): {"target_task": ClassSplit(mini_smoke, range(5, 10)), "student_epochs": 1,
                                "recovery_epochs": 1},
    }
    expected = {"piracy": ["key0", "key1"], "pruning": ["rate0.3", "rate0.6"], "finetune": [""], "extraction": [""],
                "transfer": ["student", "recovery"]}
    for (name, setting), params in cases.items():
        scheme = get_scheme("null_embedding" if name == "piracy" else "none")
        ctx = AttackContext(task=mini_smoke, scheme=scheme, owner_key=scheme.keygen(mini_smoke, 0), recipe=mini_smoke.recipe,
                            attacker=mini_smoke.data("attacker"), test=mini_smoke.data("test"), seed=0, setting=setting,
                            device=torch.device("cpu"), params=params, train_size=len(mini_smoke.data("train")),
                            checkpoints=stem)
        paths.clear()
        get_attack(name).run(copy.deepcopy(mini_clean), ctx)
        assert paths == [ctx.checkpoint(part) for part in expected[name]], name
    assert not list(tmp_path.iterdir())  # finished trainings leave no checkpoint behind


def test_a_row_names_the_devices_of_a_resumed_owner(tmp_path, monkeypatch):
    """An owner training cut after its first epoch and resumed by the next run: the row's metrics name
    each process's epochs (``owner_resumed``), where the row's ``device`` names only the last one (the
    twenty-third session's extraction ran 218 epochs on an H200 and 82 on a CPU)."""
    from harness import resume
    from harness.grid import GridSpec, run_grid

    monkeypatch.setenv("WMBENCH_CHECKPOINT_EVERY", "0")
    real_save, cut = resume.Checkpointer.maybe_save, []

    def save_then_cut(self, epoch_done, epochs, state):
        real_save(self, epoch_done, epochs, state)
        if epoch_done == 1 and not cut:
            cut.append(epoch_done)
            raise KeyboardInterrupt
    monkeypatch.setattr(resume.Checkpointer, "maybe_save", save_then_cut)
    spec = GridSpec(tasks=["digit-mini"], schemes=["none"], attacks=["none", "pruning"], profile="smoke",
                    settings={"pruning": ["magnitude"]}, out=str(tmp_path / "run"), device="cpu")
    with pytest.raises(KeyboardInterrupt):
        run_grid(spec)
    assert cut == [1] and list((tmp_path / "run" / "models").glob("*.partial.pt"))
    run_grid(spec)
    assert not [p for p in resume.RESUMED if p.startswith(str(tmp_path))]  # the owner's entry is not left behind
    conn = sqlite3.connect(tmp_path / "run" / "results.sqlite")
    try:
        rows = [json.loads(m) for (m,) in conn.execute("SELECT metrics FROM results")]
    finally:
        conn.close()
    cpu = device_label(torch.device("cpu"))
    assert len(rows) == 2  # the owner's own cell and the pruning cell both say it
    for metrics in rows:
        assert metrics["owner_resumed"] == [{"device": cpu, "epochs": [0, 1]}, {"device": cpu, "epochs": [1, 2]}]
        assert "resumed" not in metrics  # no attack training of these cells was resumed


def test_a_killed_multi_key_pirate_keeps_its_finished_keys(tmp_path, mini_smoke, mini_clean, monkeypatch):
    """A piracy cell killed in its third key: the rerun trains only that key, reads the first two back,
    and measures what an uninterrupted run measures (metrics, curve, first key's model); the row names
    the read-back keys as earlier parts, and no kept file outlives the cell."""
    import copy

    import attacks.piracy as piracy
    from attacks import AttackContext, get_attack
    from harness import resume
    from schemes import get_scheme

    scheme = get_scheme("null_embedding")

    def ctx(stem):
        return AttackContext(task=mini_smoke, scheme=scheme, owner_key=scheme.keygen(mini_smoke, 0), recipe=mini_smoke.recipe,
                             attacker=mini_smoke.data("attacker"), test=mini_smoke.data("test"), seed=0, setting="paper",
                             device=torch.device("cpu"), params={"pirate_keys": 3, "epochs": 1},
                             train_size=len(mini_smoke.data("train")), checkpoints=stem)
    attack = get_attack("piracy")
    torch.manual_seed(5)
    reference = attack.run(copy.deepcopy(mini_clean), ctx(None))

    real_train, calls = piracy.train, []

    def train_or_die(*args, die_at=None, **kwargs):
        calls.append(kwargs["desc"])
        if len(calls) == die_at:
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)
    stem = tmp_path / "cell.attack"
    monkeypatch.setattr(piracy, "train", lambda *a, **k: train_or_die(*a, die_at=3, **k))
    torch.manual_seed(5)
    with pytest.raises(KeyboardInterrupt):
        attack.run(copy.deepcopy(mini_clean), ctx(stem))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cell.attack.key0.done-model.safetensors", "cell.attack.key0.done.json", "cell.attack.key1.done.json"]
    calls.clear()
    monkeypatch.setattr(piracy, "train", train_or_die)
    resume.RESUMED.clear()
    torch.manual_seed(5)
    resumed = attack.run(copy.deepcopy(mini_clean), ctx(stem))
    assert calls == ["piracy 3/3"]  # keys 1-2 were read back, not trained again
    assert resumed.metrics == reference.metrics and resumed.curve == reference.curve
    assert resumed.cost.samples == reference.cost.samples and resumed.nc_acc == reference.nc_acc
    for (name, a), b in zip(reference.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    cpu = device_label(torch.device("cpu"))
    assert resume.take_resumed(stem) == {"key0": [{"device": cpu, "epochs": [0, 1]}],
                                         "key1": [{"device": cpu, "epochs": [0, 1]}]}
    assert not list(tmp_path.iterdir())
    # a kept key of another training (here: other epochs) is not read back
    monkeypatch.setattr(piracy, "train", lambda *a, **k: train_or_die(*a, die_at=2, **k))
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        attack.run(copy.deepcopy(mini_clean), ctx(stem))
    other = ctx(stem)
    other.params = {"pirate_keys": 3, "epochs": 2}
    calls.clear()
    monkeypatch.setattr(piracy, "train", train_or_die)
    attack.run(copy.deepcopy(mini_clean), other)
    assert calls == ["piracy 1/3", "piracy 2/3", "piracy 3/3"]
    resume.RESUMED.clear()
