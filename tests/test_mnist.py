"""MNIST data: the embedded subset and its cache, stratified splits, the IDX parser, downloads, learning.

Every test keeps its files under ``tmp_path`` (``EXPLORER_CACHE`` points there)
and no test touches the network: downloads are served by a patched ``urlopen``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.core import mnist
from explorer.core.mnist import DataError


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("EXPLORER_CACHE", str(cache))
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    return cache


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    return mnist.load_subset(tmp_path_factory.mktemp("subset-cache"))


def _parser_must_not_run() -> None:
    raise AssertionError("the CSV was parsed although a sound cache exists")


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """An IDX file: 00 00 <type> <ndim>, big-endian uint32 sizes, big-endian data."""
    dtype = mnist.IDX_TYPES[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def write_idx_set(directory: Path, n_train: int = 50, n_test: int = 20, gz: bool = True) -> dict[str, np.ndarray]:
    """A small full set (5 images per class in train, 2 in test) in the standard file names."""
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(n_test, dtype=np.uint8) % 10,
    }
    directory.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / stem).write_bytes(data)
    return arrays


# --- The embedded subset and its cache ------------------------------------
def test_subset_shapes_types_and_balance(subset: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = subset
    assert images.shape == (5000, 784) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [500] * 10
    assert images.max() == 255 and images.min() == 0


def test_cache_round_trip_skips_the_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = mnist.load_subset(tmp_path)
    assert (tmp_path / mnist.SUBSET_CACHE).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    monkeypatch.setattr(mnist, "_parse_subset_csv", _parser_must_not_run)
    second = mnist.load_subset(tmp_path)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_default_cache_dir_comes_from_the_environment(cache_in_tmp: Path) -> None:
    mnist.load_subset()
    assert (cache_in_tmp / mnist.SUBSET_CACHE).is_file()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-shape"])
def test_a_corrupt_cache_is_ignored_and_rewritten(
    tmp_path: Path, subset: tuple[np.ndarray, np.ndarray], damage: str
) -> None:
    path = tmp_path / mnist.SUBSET_CACHE
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    else:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=subset[0][:, :100], labels=subset[1])
        data = buffer.getvalue()
        path.write_bytes(data[: len(data) // 2] if damage == "truncated" else data)
    images, labels = mnist.load_subset(tmp_path)
    assert np.array_equal(images, subset[0]) and np.array_equal(labels, subset[1])
    with np.load(path) as rewritten:
        assert rewritten["images"].shape == (5000, 784)


def test_an_unwritable_cache_falls_back_to_parsing(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the cache directory should be")
    images, labels = mnist.load_subset(blocker / "cache")
    assert images.shape == (5000, 784) and labels.shape == (5000,)


# --- Stratified splits -------------------------------------------------------
def test_default_split_is_stratified_disjoint_and_complete(subset: tuple[np.ndarray, np.ndarray]) -> None:
    labels = subset[1]
    train_idx, val_idx = mnist.stratified_split(labels, 1000, seed=0)
    assert len(train_idx) == 4000 and len(val_idx) == 1000
    assert np.bincount(labels[train_idx]).tolist() == [400] * 10
    assert np.bincount(labels[val_idx]).tolist() == [100] * 10
    both = np.concatenate([train_idx, val_idx])
    assert len(np.unique(both)) == 5000  # disjoint, no duplicates, covers everything
    # The data is sorted by class: a shuffled split does not start with a run of zeros.
    assert len(np.unique(labels[train_idx[:50]])) > 5 and len(np.unique(labels[val_idx[:50]])) > 5


def test_split_is_reproducible_and_seed_dependent(subset: tuple[np.ndarray, np.ndarray]) -> None:
    labels = subset[1]
    a, b, c = (mnist.stratified_split(labels, 1000, seed=s) for s in (3, 3, 4))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(np.sort(a[1]), np.sort(c[1]))


def test_split_rounds_uneven_classes_and_honours_train_size() -> None:
    labels = np.repeat(np.arange(3), [50, 30, 20])
    train_idx, val_idx = mnist.stratified_split(labels, 15, seed=0, train_size=33)
    assert len(val_idx) == 15 and len(train_idx) == 33 and not set(train_idx) & set(val_idx)
    for idx, size in ((val_idx, 15), (train_idx, 33)):
        counts = np.bincount(labels[idx], minlength=3)
        assert np.all(np.abs(counts - np.array([0.5, 0.3, 0.2]) * size) < 1)
    with pytest.raises(DataError, match="cannot split 100"):
        mnist.stratified_split(labels, 60, seed=0, train_size=41)


# --- IDX files -----------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trips(tmp_path: Path, gz: bool) -> None:
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], dtype=np.uint8)
    for stem, array in (("images", images), ("labels", labels)):
        data = idx_bytes(array)
        path = tmp_path / (f"{stem}.gz" if gz else stem)
        path.write_bytes(gzip.compress(data) if gz else data)
        back = mnist.read_idx(path)
        assert back.dtype == np.uint8 and back.shape == array.shape and np.array_equal(back, array)


def test_read_idx_big_endian_ints(tmp_path: Path) -> None:
    array = np.array([[1, -2, 70000], [0, 5, -70000]], dtype=np.int32)
    (tmp_path / "ints").write_bytes(idx_bytes(array, code=0x0C))
    back = mnist.read_idx(tmp_path / "ints")
    assert back.dtype == np.int32 and np.array_equal(back, array)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[:-10], "is truncated"),
        (lambda d: d[:9], "truncated IDX header"),
        (lambda d: d + b"\x00\x00\x00", "3 unexpected bytes after the data"),
        (lambda d: b"\x01" + d[1:], "not an IDX file"),
        (lambda d: d[:2] + b"\x07" + d[3:], "unknown IDX type code 0x07"),
        (lambda d: b"", "not an IDX file"),
    ],
    ids=["truncated", "short-header", "trailing", "magic", "type-code", "empty"],
)
def test_read_idx_rejects_damaged_files(tmp_path: Path, damage, message: str) -> None:
    data = idx_bytes(np.zeros((7, 28, 28), dtype=np.uint8))
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(damage(data))
    with pytest.raises(DataError, match=message) as info:
        mnist.read_idx(path)
    assert path.name in str(info.value)


def test_read_idx_rejects_a_truncated_gzip(tmp_path: Path) -> None:
    packed = gzip.compress(idx_bytes(np.zeros((7, 28, 28), dtype=np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match="damaged gzip"):
        mnist.read_idx(path)


def test_load_idx_dataset_reads_raw_and_gz(tmp_path: Path) -> None:
    for gz in (False, True):
        arrays = write_idx_set(tmp_path / str(gz), gz=gz)
        x_tr, y_tr, x_te, y_te = mnist.load_idx_dataset(tmp_path / str(gz), "mnist-full")
        assert np.array_equal(x_tr, arrays["train-images-idx3-ubyte"]) and x_tr.shape == (50, 28, 28)
        assert y_tr.dtype == np.int64 and np.array_equal(y_tr, arrays["train-labels-idx1-ubyte"])
        assert x_te.shape == (20, 28, 28) and y_te.shape == (20,)


def test_load_idx_dataset_rejects_count_mismatch_and_bad_labels(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(19, dtype=np.uint8))))
    with pytest.raises(DataError, match="holds 20 images but t10k-labels-idx1-ubyte.gz holds 19 labels"):
        mnist.load_idx_dataset(tmp_path, "fashion-mnist")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.full(20, 10, dtype=np.uint8))))
    with pytest.raises(DataError, match="labels must be 0..9"):
        mnist.load_idx_dataset(tmp_path, "fashion-mnist")


def test_load_idx_dataset_rejects_wrong_image_shape(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    narrow = idx_bytes(np.zeros((50, 28, 27), dtype=np.uint8))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(narrow))
    with pytest.raises(DataError, match=r"expected uint8 images of shape \(N, 28, 28\)"):
        mnist.load_idx_dataset(tmp_path, "mnist-full")


# --- Missing files and downloads ----------------------------------------------
class FakeResponse(io.BytesIO):
    """What urlopen returns, enough for a streamed read in a ``with``."""


def serve(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes], offline: bool = False) -> list[str]:
    """Patch urlopen to serve ``files`` by name (or fail as if offline); return the URLs requested."""
    requested: list[str] = []

    def fake_urlopen(url: str, timeout: float) -> FakeResponse:
        requested.append(url)
        assert timeout > 0
        if offline:
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        return FakeResponse(files[url.rsplit("/", 1)[-1]])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return requested


def small_gz_set(monkeypatch: pytest.MonkeyPatch, name: str, tamper: str | None = None) -> dict[str, bytes]:
    """Gzipped small IDX files, with the checksum table patched to match (except ``tamper``)."""
    rng = np.random.default_rng(2)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(30, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(10, dtype=np.uint8) % 10,
    }
    files = {filename: gzip.compress(idx_bytes(array)) for filename, array in arrays.items()}
    table = {filename: hashlib.md5(data).hexdigest() for filename, data in files.items()}
    if tamper:
        table[tamper] = "0" * 32
    monkeypatch.setitem(mnist.MD5, name, table)
    return files


def test_missing_files_without_download_name_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    requested = serve(monkeypatch, {})
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((1, 28, 28), dtype=np.uint8)))
    with pytest.raises(DataError) as info:
        mnist.fetch_idx(tmp_path, "mnist-full", download=False)
    message = str(info.value)
    for stem in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert stem in message
    assert "train-images" not in message and str(tmp_path) in message and mnist.MIRRORS["mnist-full"][0] in message
    assert requested == []


def test_download_lands_verified_files_in_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = small_gz_set(monkeypatch, "fashion-mnist")
    requested = serve(monkeypatch, files)
    data_dir = tmp_path / "data" / "fashion"
    mnist.fetch_idx(data_dir, "fashion-mnist", download=True)
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(files)
    assert all((data_dir / name).read_bytes() == data for name, data in files.items())
    assert len(requested) == 4 and all(url.startswith(mnist.MIRRORS["fashion-mnist"][0]) for url in requested)
    x_tr, y_tr, x_te, y_te = mnist.load_idx_dataset(data_dir, "fashion-mnist")
    assert x_tr.shape == (30, 28, 28) and y_te.shape == (10,)
    mnist.fetch_idx(data_dir, "fashion-mnist", download=True)  # all present: nothing fetched again
    assert len(requested) == 4


def test_checksum_mismatch_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = small_gz_set(monkeypatch, "mnist-full", tamper="t10k-images-idx3-ubyte.gz")
    serve(monkeypatch, files)
    with pytest.raises(DataError, match="checksum mismatch") as info:
        mnist.fetch_idx(tmp_path, "mnist-full", download=True)
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert "t10k-images-idx3-ubyte.gz" not in left and not [n for n in left if n.endswith(".part")]


def test_offline_download_says_where_to_get_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    requested = serve(monkeypatch, {}, offline=True)
    with pytest.raises(DataError, match="Temporary failure in name resolution") as info:
        mnist.fetch_idx(tmp_path / "d", "mnist-full", download=True)
    assert "train-images-idx3-ubyte.gz" in str(info.value) and str(tmp_path / "d") in str(info.value)
    assert len(requested) == len(mnist.MIRRORS["mnist-full"])  # every mirror tried once, then give up
    assert list((tmp_path / "d").iterdir()) == []


# --- Datasets for the trainer ----------------------------------------------------
def test_make_mnist_subset_shapes_range_and_balance() -> None:
    data = mnist.make_mnist("mnist", train_size=4000, val_size=1000, seed=0)
    assert data.name == "mnist" and data.n_classes == 10 and data.n_features == 784
    assert data.x_train.shape == (4000, 784) and data.x_val.shape == (1000, 784)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert 0.0 <= float(data.x_train.min()) and float(data.x_train.max()) == 1.0
    assert torch.bincount(data.y_train).tolist() == [400] * 10 and torch.bincount(data.y_val).tolist() == [100] * 10
    with pytest.raises(DataError, match="holds 5000 digits"):
        mnist.make_mnist("mnist", train_size=4500, val_size=1000)
    with pytest.raises(ValueError, match="train_size must be in 1..60000"):
        mnist.make_mnist("mnist", train_size=60001)


def test_make_mnist_full_draws_from_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, {}, offline=True)
    write_idx_set(tmp_path, n_train=50, n_test=20)
    a = mnist.make_mnist("mnist-full", train_size=20, val_size=10, seed=5, data_dir=tmp_path)
    b = mnist.make_mnist("mnist-full", train_size=20, val_size=10, seed=5, data_dir=tmp_path)
    assert a.x_train.shape == (20, 784) and a.x_val.shape == (10, 784)
    assert torch.bincount(a.y_train).tolist() == [2] * 10 and torch.bincount(a.y_val).tolist() == [1] * 10
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    with pytest.raises(DataError, match="holds 50 training and 20 test images"):
        mnist.make_mnist("mnist-full", train_size=51, val_size=10, data_dir=tmp_path)
    with pytest.raises(DataError, match="missing in"):
        mnist.make_mnist("fashion-mnist", data_dir=tmp_path / "empty", download=False)


def test_an_mlp_learns_the_subset() -> None:
    from explorer.core.model import MLP, MLPConfig
    from explorer.core.training import TrainConfig, Trainer

    data = mnist.make_mnist("mnist", train_size=2000, val_size=500, seed=0)
    model = MLP(MLPConfig(n_in=784, hidden=(128,), n_out=10, p=0.2, input_p=0.0))
    trainer = Trainer(model, data, TrainConfig(optimizer="sgd", lr=0.05, batch_size=64, epochs=2))
    trainer.run(max_seconds=30.0)
    assert trainer.done
    assert trainer.final()["val_acc"] > 0.6  # chance is 0.1
