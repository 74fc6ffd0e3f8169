"""Your own 2-D data: a CSV of points, checked, split and standardised like the built-in sets.

The format is the one the app downloads: a header naming the columns ``x1``,
``x2`` and ``label`` (in any order; other columns, such as the ``split`` of a
downloaded set, are ignored), then one point per line. Labels are integers or
any text; 2 to settings.UPLOAD_MAX_CLASSES classes, each with two examples at
least, so a stratified split can put one on each side. Every way a file can be
wrong raises ``PointsError`` with a sentence that says what to fix: a student
uploading a spreadsheet export should never see a traceback.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from explorer import settings
from explorer.core.datasets import Dataset, standardised

COLUMNS = ("x1", "x2", "label")


class PointsError(ValueError):
    """A file that is not a usable CSV of 2-D points; the message says why."""


@dataclass(frozen=True, eq=False)  # arrays: two files are told apart by ``digest``
class Points:
    """Every point of a file, its labels as class indices, and each class's label as written."""

    name: str                  # the file's name: the dataset's name on the page
    x: np.ndarray              # (n, 2) float64
    y: np.ndarray              # (n,) int64, indices into ``classes``
    classes: tuple[str, ...]   # labels in class order: numerically if they are all integers, else as text
    digest: str                # SHA-256 of the file: tells two uploads of one name apart

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def default_split(self) -> tuple[int, int]:
        """Training and validation sizes: settings.UPLOAD_VAL_SHARE held out, at least one of each class a side."""
        n, k = len(self.y), self.n_classes
        val = min(n - k, max(k, round(settings.UPLOAD_VAL_SHARE * n)))
        return n - val, val


def read_points(raw: bytes, name: str) -> Points:
    """Check and read a CSV file's bytes; ``PointsError`` for every way it can be wrong."""
    limit = settings.UPLOAD_MAX_BYTES
    if len(raw) > limit:
        raise PointsError(f"{name} is {len(raw) / 1e6:.1f} MB; files of at most {limit / 1e6:g} MB are accepted")
    if b"\x00" in raw:
        raise PointsError(f"{name} is a binary file, not CSV text (columns {','.join(COLUMNS)})")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise PointsError(f"{name} is not UTF-8 text (byte {err.start + 1} cannot be read); "
                          "save it as CSV UTF-8") from None
    rows = [(line, row) for line, row in enumerate(csv.reader(io.StringIO(text)), start=1) if any(c.strip() for c in row)]
    if not rows:
        raise PointsError(f"{name} is empty: expected a header {','.join(COLUMNS)} and one point per line")
    columns = _header(rows[0][1])
    points = rows[1:]
    if not points:
        raise PointsError(f"{name} has a header but no points")
    if len(points) > settings.UPLOAD_MAX_ROWS:
        raise PointsError(f"{name} has {len(points):,} points; at most {settings.UPLOAD_MAX_ROWS:,} are accepted")
    x = np.empty((len(points), 2))
    labels = []
    for i, (line, row) in enumerate(points):
        if len(row) <= max(columns.values()):
            raise PointsError(f"line {line}: {len(row)} values, but the header has {max(columns.values()) + 1} columns")
        x[i] = [_coordinate(row[columns[c]], c, line) for c in ("x1", "x2")]
        label = row[columns["label"]].strip()
        if not label:
            raise PointsError(f"line {line}: the label is empty")
        labels.append(label)
    classes, y = _classes(labels)
    return Points(name, x, y, classes, hashlib.sha256(raw).hexdigest())


def read_points_file(path: str | Path) -> Points:
    """``read_points`` of a file on disk; a missing or unreadable file is a ``PointsError`` too."""
    path = Path(path).expanduser()
    try:
        size = path.stat().st_size
        if size > settings.UPLOAD_MAX_BYTES:  # not read whole: it would be refused anyway
            raise PointsError(f"{path.name} is {size / 1e6:.1f} MB; files of at most "
                              f"{settings.UPLOAD_MAX_BYTES / 1e6:g} MB are accepted")
        raw = path.read_bytes()
    except OSError as err:
        raise PointsError(f"cannot read {path}: {err.strerror or err}") from None
    return read_points(raw, path.name)


def _header(row: list[str]) -> dict[str, int]:
    """Each needed column's position; a first line of numbers is a missing header."""
    names = [c.strip().lower() for c in row]
    if all(_reads_as(c, float) for c in names if c):
        raise PointsError(f"no header: the first line must name the columns {','.join(COLUMNS)}, got {','.join(row)}")
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise PointsError(f"missing column{'s' * (len(missing) > 1)} {', '.join(missing)}: the header must name "
                          f"{','.join(COLUMNS)}, got {','.join(row)}")
    return {c: names.index(c) for c in COLUMNS}


def _reads_as(text: str, kind: type) -> bool:
    """Whether ``kind(text)`` (float, int) reads it."""
    try:
        kind(text)
    except ValueError:
        return False
    return True


def _coordinate(text: str, column: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PointsError(f"line {line}: {column} is not a number: {text.strip()!r}") from None
    if not math.isfinite(value):
        raise PointsError(f"line {line}: {column} is {text.strip()}; every coordinate must be a finite number")
    return value


def _classes(labels: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """Class indices: integer labels in numeric order, others in text order; enough classes, each twice."""
    integers = all(_reads_as(label, int) for label in labels)
    keys = [int(label) for label in labels] if integers else labels
    order = sorted(set(keys))
    if len(order) < 2:
        raise PointsError(f"only one class ({labels[0]}): a classifier needs two classes at least")
    if len(order) > settings.UPLOAD_MAX_CLASSES:
        raise PointsError(f"{len(order)} classes; at most {settings.UPLOAD_MAX_CLASSES} are accepted")
    index = {key: i for i, key in enumerate(order)}
    y = np.array([index[key] for key in keys], dtype=np.int64)
    counts = np.bincount(y, minlength=len(order))
    single = [str(order[i]) for i in np.flatnonzero(counts < 2)]
    if single:
        raise PointsError(f"class{'es' * (len(single) > 1)} {', '.join(single)} "
                          f"{'have' if len(single) > 1 else 'has'} a single example: every class needs two at "
                          "least, one for training and one for validation")
    return tuple(str(key) for key in order), y


def points_dataset(points: Points, train_size: int, val_size: int, label_noise: float = 0.0, seed: int = 0) -> Dataset:
    """A stratified, seeded split of the file's points, standardised on the training part; a fraction
    ``label_noise`` of training labels moved to another class, as on the built-in sets."""
    n, k = len(points.y), points.n_classes
    if train_size + val_size > n:
        raise PointsError(f"{points.name} has {n} points, fewer than {train_size} for training + {val_size} for "
                          "validation")
    if min(train_size, val_size) < k:
        raise PointsError(f"{points.name} has {k} classes: training and validation need {k} points each at least")
    rest = n - train_size - val_size
    keep = np.arange(n)
    if rest:  # fewer points than the file has: a stratified sample of them
        keep, _ = train_test_split(keep, test_size=rest, stratify=points.y, random_state=seed)
    tr, va = train_test_split(keep, train_size=train_size, test_size=val_size, stratify=points.y[keep],
                              random_state=seed)
    x, y = points.x.astype(np.float32), points.y
    y_tr = y[tr].copy()
    rng = np.random.default_rng(seed)
    flips = rng.random(train_size) < label_noise
    y_tr[flips] = (y_tr[flips] + rng.integers(1, k, size=int(flips.sum()))) % k  # another class, any of them
    x_tr, x_va = standardised(x[tr], x[va])
    return Dataset(points.name, torch.from_numpy(x_tr), torch.from_numpy(y_tr), torch.from_numpy(x_va),
                   torch.from_numpy(y[va].copy()), k, points.classes)


def dataset_csv(data: Dataset) -> str:
    """A 2-D dataset as the CSV ``read_points`` reads (``split`` says training or validation), in the
    standardised coordinates the network sees."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, "split"])
    names = data.class_names or tuple(str(c) for c in range(data.n_classes))
    for split, xs, ys in (("train", data.x_train, data.y_train), ("val", data.x_val, data.y_val)):
        for (a, b), c in zip(xs.tolist(), ys.tolist()):
            writer.writerow([f"{a:.6g}", f"{b:.6g}", names[c], split])
    return out.getvalue()
