"""Your own points: every bad file gets a sentence, good files read as written, the split is stratified and seeded."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from explorer import settings
from explorer.core import figures
from explorer.core.accessible import OKABE_ITO, colour_blind
from explorer.core.points import PointsError, dataset_csv, points_dataset, read_points, read_points_file


def _csv(rows: list[tuple], header: str = "x1,x2,label") -> bytes:
    return (header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)).encode()


def _three_classes(n: int = 30, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return _csv([(rng.normal(c), rng.normal(-c), name) for c, name in enumerate(("cat", "dog", "eel")) for _ in range(n)])


BAD = [  # (file bytes, words its message must hold)
    (b"", ("empty",)),
    (b"\n \n", ("empty",)),
    (b"x1,x2,label\n", ("no points",)),
    (b"0.1,0.2,0\n0.3,0.4,1\n", ("no header", "x1,x2,label")),
    (b"x1,x2\n1,2\n3,4\n", ("missing column label",)),
    (b"a,b,c\n1,2,0\n", ("missing columns x1, x2, label",)),
    (b"x1,x2,label\n1,2,0\nabc,4,1\n1,1,1\n0,0,0\n", ("line 3", "x1", "not a number", "'abc'")),
    (b"x1,x2,label\n1,nan,0\n3,4,1\n1,1,1\n0,0,0\n", ("line 2", "x2", "finite")),
    (b"x1,x2,label\n1,2,0\n3,inf,1\n1,1,1\n0,0,0\n", ("line 3", "finite")),
    (b"x1,x2,label\n1,2,0\n3,4\n", ("line 3", "2 values")),
    (b"x1,x2,label\n1,2,\n3,4,1\n", ("line 2", "label is empty")),
    (b"x1,x2,label\n1,2,a\n3,4,a\n", ("only one class",)),
    (_csv([(i, i, i % 11) for i in range(44)]), ("11 classes", "at most 10")),
    (b"x1,x2,label\n1,2,a\n3,4,a\n5,6,b\n", ("class b", "single example")),
    (b"x1,x2,label\n1,2,a\n3,4,b\n5,6,c\n7,7,c\n", ("classes a, b", "single example")),
    (_csv([(i, i, i % 2) for i in range(settings.UPLOAD_MAX_ROWS + 1)]), ("5,001 points", "at most 5,000")),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ("binary",)),
    ("x1,x2,label\n1,2,caf\xe9\n".encode("latin-1"), ("not UTF-8", "byte")),
    (b"x1,x2,label\n" + b"0.5,0.5,0\n" * 200_000, ("MB", "at most 1 MB")),
]


@pytest.mark.parametrize("raw,words", BAD, ids=[w[0] for _, w in BAD])
def test_every_bad_file_gets_a_sentence_not_a_traceback(raw, words):
    with pytest.raises(PointsError) as err:
        read_points(raw, "mine.csv")
    message = str(err.value)
    assert all(w in message for w in words), message
    assert "\n" not in message and "Traceback" not in message


def test_a_good_file_reads_as_written():
    # a byte-order mark, spaces and capitals in the header, a blank line, a quoted comma, an exponent
    raw = "\ufeffLabel , X2,x1,note\n\nb,-2,0.25,a\n1.5,2,-0.5,\"b,c\"\nb,0,1,d\n1.5,1e-3,3,e\n".encode()
    points = read_points(raw, "mine.csv")
    assert points.classes == ("1.5", "b")  # not all integers: sorted as text
    assert points.y.tolist() == [1, 0, 1, 0]
    assert points.x.tolist() == [[0.25, -2], [-0.5, 2], [1, 0], [3, 1e-3]]
    raw = b"x1,x2,label\n0,0,10\n1,1,2\n2,2,10\n3,3,2\n"
    points = read_points(raw, "ints.csv")
    assert points.classes == ("2", "10")  # integers sort as numbers, not as text
    assert points.y.tolist() == [1, 0, 1, 0]
    assert points.x.tolist() == [[0, 0], [1, 1], [2, 2], [3, 3]]
    assert points.default_split() == (2, 2)


def test_columns_in_any_order_and_extra_columns_ignored():
    points = read_points(b"label,split,x2,x1\ncat,train,1,2\ndog,val,3,4\ncat,val,5,6\ndog,train,7,8\n", "p.csv")
    assert points.x.tolist() == [[2, 1], [4, 3], [6, 5], [8, 7]]
    assert points.classes == ("cat", "dog") and points.y.tolist() == [0, 1, 0, 1]


def test_the_split_is_stratified_seeded_and_standardised_on_training_points():
    points = read_points(_three_classes(), "three.csv")
    train, val = points.default_split()
    assert (train, val) == (63, 27)
    data = points_dataset(points, train, val, seed=3)
    assert np.bincount(data.y_train.numpy()).tolist() == [21, 21, 21]
    assert np.bincount(data.y_val.numpy()).tolist() == [9, 9, 9]
    assert np.allclose(data.x_train.numpy().mean(0), 0, atol=1e-5)
    assert np.allclose(data.x_train.numpy().std(0), 1, atol=1e-4)
    again = points_dataset(points, train, val, seed=3)
    assert (data.x_train == again.x_train).all() and (data.y_val == again.y_val).all()
    other = points_dataset(points, train, val, seed=4)
    assert not (data.x_train == other.x_train).all()
    assert (data.n_classes, data.class_names, data.name) == (3, ("cat", "dog", "eel"), "three.csv")


def test_fewer_points_than_the_file_holds_are_a_stratified_sample():
    points = read_points(_three_classes(), "three.csv")
    data = points_dataset(points, 12, 9, seed=0)
    assert np.bincount(data.y_train.numpy()).tolist() == [4, 4, 4]
    assert np.bincount(data.y_val.numpy()).tolist() == [3, 3, 3]
    with pytest.raises(PointsError, match="90 points, fewer than 80 for training \\+ 20"):
        points_dataset(points, 80, 20)
    with pytest.raises(PointsError, match="3 classes"):
        points_dataset(points, 2, 20)


def test_label_noise_moves_labels_to_another_class():
    points = read_points(_three_classes(200), "three.csv")
    clean = points_dataset(points, 400, 200, seed=1)
    noisy = points_dataset(points, 400, 200, label_noise=0.3, seed=1)
    moved = (clean.y_train != noisy.y_train).float().mean().item()
    # Binomial(400, 0.3): 3 standard deviations are ±0.069
    assert abs(moved - 0.3) < 0.069
    assert (clean.y_val == noisy.y_val).all()  # validation labels stay clean


def test_a_downloaded_set_reads_back_as_the_same_points():
    points = read_points(_three_classes(), "three.csv")
    data = points_dataset(points, 63, 27, seed=0)
    back = read_points(dataset_csv(data).encode(), "back.csv")
    x = np.concatenate([data.x_train.numpy(), data.x_val.numpy()])
    assert np.allclose(back.x, x, atol=1e-5)
    assert back.classes == ("cat", "dog", "eel")
    assert back.y.tolist() == np.concatenate([data.y_train.numpy(), data.y_val.numpy()]).tolist()


def test_a_file_on_disk_and_a_missing_one(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(_three_classes())
    assert read_points_file(path).name == "p.csv"
    with pytest.raises(PointsError, match="cannot read"):
        read_points_file(tmp_path / "absent.csv")


def test_a_map_of_many_classes_is_a_valid_figure_with_a_colour_per_class():
    k, res = 4, 9
    probs = np.random.default_rng(0).dirichlet(np.ones(k), size=(res, res)).transpose(2, 0, 1)
    xs = ys = np.linspace(-1, 1, res)
    x = np.random.default_rng(1).normal(size=(40, 2))
    y = np.arange(40) % k
    fig = figures.boundary_figure(xs, ys, probs, x, y, x, y, class_names=("a", "b", "c", "d"))
    go.Figure(fig)
    colours = {t["marker"]["color"] for t in fig["data"] if t["type"] == "scatter"}
    assert colours == set(figures.CLASS_COLORS[:k])
    assert "training points of class d" in {t.get("name") for t in fig["data"]}
    safe = colour_blind(fig)
    go.Figure(safe)
    assert not colours & {t["marker"]["color"] for t in safe["data"] if t["type"] == "scatter"}
    assert all(figures.lighter(c) in OKABE_ITO for c in figures.CLASS_COLORS[2:])
