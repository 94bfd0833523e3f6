"""Data loaders: real MNIST/GTSRB when present, and tiny fixtures in the exact official formats otherwise.

CIFAR-10, YouTube Faces and LISA are not available offline, so their tests write
small files in the official layouts (pickled batches, aligned-frame JPEG trees,
allAnnotations.csv + PNG frames) and load them through the real loaders.
"""
from __future__ import annotations

import csv
import gzip
import pickle
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness.errors import BadInput, DataNotFound
from tasks.cifar import ObjectTask
from tasks.classsplit import class_split
from tasks.data_root import cache_dir
from tasks.digit import MNIST_MD5, Digit
from tasks.gtsrb import Traffic
from tasks.idx import md5_uncompressed
from tasks.lisa import LisaTask
from tasks.ytf import Face, split_frames


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg
    return msg


# ---------------------------------------------------------------- real data

def test_mnist_real(data_dir):
    task = Digit(data_dir=str(data_dir), profile="quick")
    for split, n in (("train", 60_000), ("test", 10_000)):
        d = task.load_split(split)
        assert d.x.shape == (n, 1, 28, 28) and d.x.dtype == torch.uint8 and d.y.dtype == torch.int64
        assert int(d.x.max()) == 255 and int(d.x.min()) == 0
        assert sorted(d.y.unique().tolist()) == list(range(10))
    for name, md5 in MNIST_MD5.items():
        assert md5_uncompressed(data_dir / "mnist" / f"{name}.gz") == md5


@pytest.fixture(scope="session")
def gtsrb_loaded(data_dir, tmp_path_factory):
    """GTSRB decoded once per session at 32x32 (the smoke resolution), with the first-load time."""
    with pytest.MonkeyPatch.context() as mp:  # session fixtures run before the autouse cache fixture
        mp.setenv("WMBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "wmbench-cache"))
        task = Traffic(data_dir=str(data_dir), profile="smoke")
        t0 = time.perf_counter()
        train, test = task.load_split("train"), task.load_split("test")
        return task, train, test, time.perf_counter() - t0


def test_gtsrb_real_counts(gtsrb_loaded):
    task, train, test, _ = gtsrb_loaded
    assert len(train) == 39_209 and len(test) == 12_630
    assert train.x.shape[1:] == (3, 32, 32) and train.x.dtype == torch.uint8  # smoke: 32, not the default 48
    assert sorted(train.y.unique().tolist()) == list(range(43)) == sorted(test.y.unique().tolist())
    assert task.model()(train.floats(slice(0, 2))).shape == (2, 43)
    # ROI crops of signs are neither blank nor saturated
    assert 0.1 < float(train.floats(slice(0, 2000)).mean()) < 0.5
    # the copy here stores every image at 32x32 while the csv keeps the original Width/Height/ROI:
    # the ROI must be scaled, or the crop runs off the image and its bottom/right rows come out black
    for split in (train, test):
        black_bottom = (split.x[:, :, -1, :] == 0).all(1).all(1).float().mean()
        assert float(black_bottom) < 0.001


def test_gtsrb_second_load_from_cache(gtsrb_loaded):
    task, train, test, first = gtsrb_loaded
    t0 = time.perf_counter()
    train2, test2 = task.load_split("train"), task.load_split("test")
    second = time.perf_counter() - t0
    assert second < first / 3, (first, second)
    assert torch.equal(train.x, train2.x) and torch.equal(train.y, train2.y) and torch.equal(test.x, test2.x)


def test_gtsrb_resolution_choice(data_dir):
    assert Traffic(data_dir=str(data_dir), profile="paper").resolution == (48, 48)
    assert Traffic(data_dir=str(data_dir), profile="paper", resolution=20).input_shape == (3, 20, 20)


# ---------------------------------------------------------------- errors shared by all loaders

def test_truncated_idx_is_bad_input(tmp_path):
    (tmp_path / "mnist").mkdir()
    header = struct.pack(">BBBBIII", 0, 0, 8, 3, 10, 28, 28)
    with gzip.open(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + bytes(28 * 28 * 10 - 5))
    with gzip.open(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">BBBBI", 0, 0, 8, 1, 10) + bytes(10))
    with pytest.raises(BadInput) as exc:
        Digit(data_dir=str(tmp_path)).load_split("test")
    assert "t10k-images-idx3-ubyte" in _one_line(exc) and "truncated" in str(exc.value)


@pytest.mark.parametrize("cls, expected", [
    (Digit, "train-images-idx3-ubyte"), (Traffic, "Final_Training"), (ObjectTask, "data_batch_1"),
    (Face, "aligned_images_DB"), (LisaTask, "allAnnotations.csv"),
])
def test_missing_data_names_expected_files(cls, expected, tmp_path, monkeypatch):
    with pytest.raises(DataNotFound) as exc:
        cls(data_dir=str(tmp_path / "nowhere"), profile="smoke").load_split("train")
    assert expected in _one_line(exc) and "http" in str(exc.value)
    monkeypatch.delenv("WMBENCH_DATA", raising=False)
    with pytest.raises(DataNotFound, match="WMBENCH_DATA"):
        cls(profile="smoke").load_split("train")


# ---------------------------------------------------------------- GTSRB layout on a tiny fixture

_GT_HEADER = ["Filename", "Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId"]


def _sign(colour: tuple[int, int, int]) -> Image.Image:
    """30x30 white frame with the inclusive ROI 5..24 filled by ``colour``."""
    a = np.full((30, 30, 3), 255, np.uint8)
    a[5:25, 5:25] = colour
    return Image.fromarray(a)


def _write_gt(path: Path, rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(_GT_HEADER)
        w.writerows(rows)


@pytest.fixture
def fake_gtsrb(tmp_path) -> Path:
    base = tmp_path / "gtsrb" / "GTSRB"
    for c in range(43):
        d = base / "Final_Training" / "Images" / f"{c:05d}"
        d.mkdir(parents=True)
        _sign((c * 5, 100, 200)).save(d / "00000_00000.ppm")
        _write_gt(d / f"GT-{c:05d}.csv", [["00000_00000.ppm", 30, 30, 5, 5, 24, 24, c]])
    test_dir = base / "Final_Test" / "Images"
    test_dir.mkdir(parents=True)
    for i, c in enumerate((3, 42)):
        _sign((c * 5, 100, 200)).save(test_dir / f"{i:05d}.ppm")
    _write_gt(base / "Final_Test" / "GT-final_test.csv", [[f"{i:05d}.ppm", 30, 30, 5, 5, 24, 24, c] for i, c in enumerate((3, 42))])
    return tmp_path


def test_gtsrb_fixture_roi_crop_and_cache(fake_gtsrb):
    task = Traffic(data_dir=str(fake_gtsrb), profile="smoke", resolution=16)
    train = task.load_split("train")
    assert train.x.shape == (43, 3, 16, 16) and train.y.tolist() == list(range(43))
    # the inclusive ROI holds only the sign colour: no white border leaks into the crop
    assert train.x[7, 0].unique().tolist() == [35] and train.x[7, 2].unique().tolist() == [200]
    before = set(cache_dir().glob("gtsrb-test-*.npz"))  # the session cache may hold the real data's entry
    test = task.load_split("test")
    assert test.y.tolist() == [3, 42]
    # a corrupt cache file (e.g. a crash elsewhere) is rebuilt, never served; no temp files left behind
    entries = list(set(cache_dir().glob("gtsrb-test-*.npz")) - before)
    assert len(entries) == 1 and not list(cache_dir().glob("*.tmp"))
    entries[0].write_bytes(entries[0].read_bytes()[:100])
    assert torch.equal(task.load_split("test").x, test.x)
    # a changed csv must not be served from a stale cache entry
    csv_path = fake_gtsrb / "gtsrb/GTSRB/Final_Test/GT-final_test.csv"
    _write_gt(csv_path, [["00000.ppm", 30, 30, 5, 5, 24, 24, 4], ["00001.ppm", 30, 30, 5, 5, 24, 24, 42]])
    assert task.load_split("test").y.tolist() == [4, 42]


def test_gtsrb_roi_scaled_when_images_were_resized(fake_gtsrb):
    """A copy re-saved at another size with the original csv (Width/Height/ROI of the original)."""
    d = fake_gtsrb / "gtsrb/GTSRB/Final_Training/Images/00007"
    _sign((35, 100, 200)).resize((60, 60), Image.NEAREST).save(d / "00000_00000.ppm")  # csv still says 30x30
    train = Traffic(data_dir=str(fake_gtsrb), profile="smoke", resolution=16).load_split("train")
    assert train.x[7, 0].unique().tolist() == [35] and train.x[7, 2].unique().tolist() == [200]


def test_gtsrb_fixture_corrupt_files(fake_gtsrb):
    task = Traffic(data_dir=str(fake_gtsrb), profile="smoke", resolution=16)
    (fake_gtsrb / "gtsrb/GTSRB/Final_Test/Images/00001.ppm").write_bytes(b"P6\n30 30\n255\n" + bytes(100))
    with pytest.raises(BadInput) as exc:
        task.load_split("test")
    assert "00001.ppm" in _one_line(exc)
    # a zero Width would divide by zero when the ROI is scaled to the stored image size
    _write_gt(fake_gtsrb / "gtsrb/GTSRB/Final_Test/GT-final_test.csv", [["00000.ppm", 0, 30, 5, 5, 24, 24, 3]])
    with pytest.raises(BadInput, match="Width/Height"):
        task.load_split("test")
    (fake_gtsrb / "gtsrb/GTSRB/Final_Test/GT-final_test.csv").write_text("Filename;ClassId\n00000.ppm;3\n")
    with pytest.raises(BadInput, match="Roi.X1"):
        task.load_split("test")
    (fake_gtsrb / "gtsrb/GTSRB/Final_Test/GT-final_test.csv").unlink()
    with pytest.raises(DataNotFound, match="GT-final_test.csv"):
        task.load_split("test")


# ---------------------------------------------------------------- CIFAR-10 python batches

def _write_batch(path: Path, data: np.ndarray, labels: list[int]) -> None:
    batch = {"batch_label": path.name, "labels": labels, "data": data, "filenames": [f"{i}.png" for i in labels]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)  # the official files are Python 2 protocol-2 pickles


@pytest.fixture
def fake_cifar(tmp_path) -> Path:
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        _write_batch(d / name, rng.integers(0, 256, (8, 3072), dtype=np.uint8), rng.integers(0, 10, 8).tolist())
    return tmp_path


def test_cifar_fixture_loads(fake_cifar):
    task = ObjectTask(data_dir=str(fake_cifar), profile="smoke")
    train, test = task.load_split("train"), task.load_split("test")
    assert train.x.shape == (40, 3, 32, 32) and test.x.shape == (8, 3, 32, 32) and train.x.dtype == torch.uint8
    with open(fake_cifar / "cifar-10-batches-py" / "data_batch_2", "rb") as f:
        b2 = pickle.load(f, encoding="latin1")
    assert train.y[8:16].tolist() == b2["labels"]
    assert np.array_equal(train.x[8, 1].numpy(), b2["data"][0, 1024:2048].reshape(32, 32))  # channel-major rows
    assert ObjectTask(data_dir=str(fake_cifar), profile="smoke", resolution=16).load_split("test").x.shape == (8, 3, 16, 16)
    assert task.model()(test.floats()).shape == (8, 10)


def test_cifar_corrupt_batches(fake_cifar):
    task = ObjectTask(data_dir=str(fake_cifar), profile="smoke")
    path = fake_cifar / "cifar-10-batches-py" / "test_batch"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(BadInput) as exc:
        task.load_split("test")
    assert "test_batch" in _one_line(exc)
    _write_batch(path, np.zeros((4, 3000), np.uint8), [0, 1, 2, 3])
    with pytest.raises(BadInput, match="3072"):
        task.load_split("test")
    _write_batch(path, np.zeros((2, 3072), np.uint8), [0, 10])
    with pytest.raises(BadInput, match="0-9"):
        task.load_split("test")
    path.write_bytes(pickle.dumps({"data": print}, protocol=2))  # a pickle that would reach a global
    with pytest.raises(BadInput, match="not allowed"):
        task.load_split("test")


# ---------------------------------------------------------------- YouTube Faces aligned frames

_PEOPLE = {"Alice_A": ((220, 30, 30), [4, 3]), "Bob_B": ((30, 220, 30), [5]), "Carol_C": ((30, 30, 220), [2])}


@pytest.fixture
def fake_ytf(tmp_path) -> Path:
    base = tmp_path / "YouTubeFaces" / "aligned_images_DB"
    for person, (colour, videos) in _PEOPLE.items():
        for v, n in enumerate(videos):
            d = base / person / str(v)
            d.mkdir(parents=True)
            for k in range(n):
                Image.new("RGB", (100, 100), colour).save(d / f"aligned_detect_{v}.{100 + k}.jpg", quality=95)
        (base / person / "0" / "notes.txt").write_text("not a frame")
    return tmp_path


def test_ytf_fixture_filter_split_and_labels(fake_ytf):
    assert Face.num_classes == 1283  # the paper's count on the class
    task = Face(data_dir=str(fake_ytf), profile="smoke", min_images=4, test_fraction=0.34)
    assert task.num_classes == 2 and list(task.people()) == ["Alice_A", "Bob_B"]  # Carol has 2 < 4 frames
    train, test = task.load_split("train"), task.load_split("test")
    assert train.x.shape == (8, 3, 55, 47) and test.x.shape == (4, 3, 55, 47)  # 7 -> 5+2, 5 -> 3+2
    assert train.y.tolist() == [0] * 5 + [1] * 3 and test.y.tolist() == [0, 0, 1, 1]
    assert train.x[:5, 0].float().mean() > 200 and train.x[5:, 1].float().mean() > 200  # 0 = Alice (red), 1 = Bob
    tr = {p for p, _ in split_frames(task.people(), "train", 0.34, 0)}
    te = {p for p, _ in split_frames(task.people(), "test", 0.34, 0)}
    assert not tr & te and len(tr | te) == 12
    assert te == {p for p, _ in split_frames(task.people(), "test", 0.34, 0)}  # seeded: same split again
    assert task.model()(test.floats()).shape == (4, 2)
    assert Face(data_dir=str(fake_ytf), profile="smoke", min_images=2).num_classes == 3


def test_ytf_fixture_corrupt_and_empty(fake_ytf):
    with pytest.raises(DataNotFound, match=">= 100"):
        Face(data_dir=str(fake_ytf), profile="smoke").load_split("train")
    assert Face(data_dir=str(fake_ytf), profile="smoke").model().num_classes == 1283  # no usable data: paper count
    bad = fake_ytf / "YouTubeFaces/aligned_images_DB/Bob_B/0/aligned_detect_0.100.jpg"
    bad.write_bytes(bad.read_bytes()[:40])
    task = Face(data_dir=str(fake_ytf), profile="smoke", min_images=4, test_fraction=0.34)
    with pytest.raises(BadInput) as exc:
        task.load_split("train"), task.load_split("test")
    assert "aligned_detect_0.100.jpg" in _one_line(exc)


# ---------------------------------------------------------------- LISA allAnnotations.csv

_LISA_HEADER = ("Filename;Annotation tag;Upper left corner X;Upper left corner Y;Lower right corner X;"
                "Lower right corner Y;Occluded,On another road;Origin file;Origin frame number;Origin track;"
                "Origin track frame number")
_TAGS = {"stop": ((200, 0, 0), 5), "yield": ((0, 200, 0), 4), "speedLimit25": ((0, 0, 200), 3), "keepRight": ((9, 9, 9), 1)}


@pytest.fixture
def fake_lisa(tmp_path) -> Path:
    base = tmp_path / "lisa"
    frames = base / "aiua120214-0" / "frameAnnotations-DataLog02142012_external_camera.avi_annotations"
    frames.mkdir(parents=True)
    lines = [_LISA_HEADER]
    for tag, (colour, n) in _TAGS.items():
        for k in range(n):
            a = np.zeros((40, 60, 3), np.uint8)
            a[10:21, 20:31] = colour  # box (20, 10)-(30, 20), corners inclusive
            name = f"{tag}_1330545910.avi_image{k}.png"
            Image.fromarray(a).save(frames / name)
            lines.append(f"{frames.relative_to(base)}/{name};{tag};20;10;30;20;0,0;aiua120214-0/x.avi;{k};0;{k}")
    (base / "allAnnotations.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_lisa_fixture_crops_and_classes(fake_lisa):
    task = LisaTask(data_dir=str(fake_lisa), profile="smoke", num_tags=3, test_fraction=0.25)
    train, test = task.load_split("train"), task.load_split("test")
    assert task.tags == ["stop", "yield", "speedLimit25"] and task.num_classes == 3 and LisaTask.num_classes == 17
    assert train.x.shape == (9, 3, 32, 32) and test.x.shape == (3, 3, 32, 32)  # 5,4,3 -> test 1,1,1; keepRight dropped
    assert train.y.tolist() == [0] * 4 + [1] * 3 + [2] * 2 and test.y.tolist() == [0, 1, 2]
    # the crop is exactly the box: one solid colour, no black frame
    assert train.x[0, 0].unique().tolist() == [200] and train.x[0, 1].unique().tolist() == [0]
    assert train.x[-1, 2].unique().tolist() == [200]
    assert task.model()(test.floats()).shape == (3, 3)


def test_lisa_fixture_errors(fake_lisa):
    with pytest.raises(BadInput, match="found 4 tags"):
        LisaTask(data_dir=str(fake_lisa), profile="smoke").load_split("train")
    csv_path = fake_lisa / "lisa" / "allAnnotations.csv"
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(lines[:2] + [lines[2].replace(";20;10;", ";x;10;")]) + "\n")
    with pytest.raises(BadInput) as exc:
        LisaTask(data_dir=str(fake_lisa), profile="smoke", num_tags=1).load_split("train")
    assert "line 3" in _one_line(exc)
    csv_path.write_text("Filename,Annotation tag\na.png,stop\n")
    with pytest.raises(BadInput, match="not a LISA"):
        LisaTask(data_dir=str(fake_lisa), profile="smoke", num_tags=1).load_split("train")


# ---------------------------------------------------------------- class split view

def test_class_split_relabels_and_filters(mini_smoke):
    view = class_split(mini_smoke, [7, 3])
    base = mini_smoke.load_split("test")
    d = view.load_split("test")
    assert view.num_classes == 2 and view.name != mini_smoke.name and view.input_shape == mini_smoke.input_shape
    assert len(d) == int(((base.y == 7) | (base.y == 3)).sum()) and set(d.y.tolist()) == {0, 1}
    assert torch.equal(d.x[d.y == 0], base.x[base.y == 7]) and torch.equal(d.x[d.y == 1], base.x[base.y == 3])
    base_train = mini_smoke.load_split("train")
    n_kept = int(((base_train.y == 7) | (base_train.y == 3)).sum())
    assert len(view.data("train")) == min(n_kept, mini_smoke.spec.train_size)  # sizes apply after filtering
    assert view.model()(d.floats(slice(0, 4))).shape == (4, 2) and view.recipe == mini_smoke.recipe
    with pytest.raises(BadInput):
        class_split(mini_smoke, [3, 3])
    with pytest.raises(BadInput):
        class_split(mini_smoke, [10])
