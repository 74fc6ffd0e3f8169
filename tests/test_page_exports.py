"""Data in, results out on the pages (AppTest): uploads, the export row, loading weights, pinned runs."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from explorer import settings  # noqa: E402
from explorer.core.weights import weights_bytes  # noqa: E402
from tests.test_app import _button, _link, _open  # noqa: E402

PLAYGROUND, INSIDE = "pages/playground.py", "pages/inside.py"
EXPORTS = ["Curves CSV", "Experiment JSON", "Weights"]


def _three_classes() -> bytes:
    rng = np.random.default_rng(0)
    rows = "".join(f"{rng.normal(c):.4f},{rng.normal(-c):.4f},{name}\n" for c, name in enumerate(("cat", "dog", "eel"))
                   for _ in range(30))
    return ("x1,x2,label\n" + rows).encode()


def _uploader(at: AppTest, label: str):
    return next(u for u in at.get("file_uploader") if u.label == label)


def _downloads(at: AppTest) -> list[str]:
    return [d.label for d in at.get("download_button")]


def test_the_playground_offers_every_export_and_its_points():
    at = _open(PLAYGROUND)
    assert _downloads(at) == [*EXPORTS, "Points CSV"]


def test_a_good_upload_becomes_the_dataset_and_stays_out_of_the_link():
    at = _open(PLAYGROUND)
    old = at.session_state["pg"].run
    _uploader(at, "Your own points (CSV)").set_value(("pets.csv", _three_classes(), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    run = at.session_state["pg"].run
    assert run is not old
    assert (run.exp.dataset, run.exp.data_file, run.exp.noise) == ("csv", "pets.csv", 0.0)
    assert (run.exp.train_size, run.exp.val_size, run.data.n_classes) == (63, 27, 3)
    assert run.data.class_names == ("cat", "dog", "eel")
    assert not at.error
    assert any("90 points of 3 classes" in c.value for c in at.sidebar.caption)
    assert "dataset" not in _link(at) and "data_file" not in _link(at)
    assert any("not your points" in c.value for c in at.caption)
    _button(at, "Step").click().run()
    assert run.run.step == 1 and not at.exception
    at.selectbox(key="pg_dataset").set_value("moons").run()  # back to a built-in set: the file's name goes
    assert (at.session_state["pg"].run.exp.dataset, at.session_state["pg"].run.exp.data_file) == ("moons", "")
    at.selectbox(key="pg_dataset").set_value("csv").run()  # and the upload is still there to go back to
    assert at.session_state["pg"].run.exp.data_file == "pets.csv" and not at.exception


@pytest.mark.parametrize("raw,words", [
    (b"", "empty"),
    (b"x1,x2\n1,2\n", "missing column label"),
    (b"x1,x2,label\n1,2,a\n3,4,a\n", "only one class"),
    (b"\x00\x01binary", "binary"),
])
def test_a_bad_upload_is_explained_and_the_run_untouched(raw, words):
    at = _open(PLAYGROUND)
    run = at.session_state["pg"].run
    _button(at, "Step").click().run()
    _uploader(at, "Your own points (CSV)").set_value(("bad.csv", raw, "text/csv")).run()
    assert not at.exception
    assert at.session_state["pg"].run is run and run.run.step == 1
    assert any(words in e.value and e.value.startswith("File not used") for e in at.sidebar.error), \
        [e.value for e in at.sidebar.error]


def test_more_points_than_the_file_holds_are_refused_and_the_run_kept():
    at = _open(PLAYGROUND)
    _uploader(at, "Your own points (CSV)").set_value(("pets.csv", _three_classes(), "text/csv")).run()
    run = at.session_state["pg"].run
    at.number_input(key="pg_train_size").set_value(80).run()
    assert at.session_state["pg"].run is run
    assert any("90 points" in e.value for e in at.sidebar.error)


def test_weights_load_back_and_a_wrong_file_is_refused():
    at = _open(PLAYGROUND)
    run = at.session_state["pg"].run
    _button(at, "Step").click().run()
    raw = weights_bytes({'dropout': run.run.model})
    _button(at, "Reset").click().run()
    fresh = at.session_state["pg"].run
    uploader = _uploader(at, "A weights file of this network (.pt)")
    uploader.set_value(("w.pt", raw, "application/octet-stream")).run()
    assert not at.exception
    assert any("Loaded w.pt" in s.value for s in at.success)
    assert all((a == b).all() for a, b in zip(fresh.run.model.state_dict().values(),
                                              run.run.model.state_dict().values()))
    assert fresh.record.loaded_weights == [{"step": 0, "file": "w.pt"}]
    _uploader(at, "A weights file of this network (.pt)").set_value(("w.pt", raw[:500], "x")).run()
    assert any("Not loaded" in e.value and "cut short" in e.value for e in at.error)


def test_a_sweeps_file_offers_its_models_with_the_pages_layers_and_loads_the_one_picked():
    from dataclasses import replace

    from explorer.playground.state import Playground

    at = _open(PLAYGROUND)
    exp = at.session_state["pg"].run.exp
    models = {f"standard q=0.5 seed {seed}": Playground(replace(exp, seed=seed)).run.model for seed in (3, 4)}
    models["narrow"] = Playground(replace(exp, hidden=(8,))).run.model
    _uploader(at, "A weights file of this network (.pt)").set_value(("sweep.pt", weights_bytes(models), "x")).run()
    assert any("sweep.pt holds 3 networks; 2 with this page's layers: choose one" in i.value for i in at.info)
    picker = next(s for s in at.selectbox if s.label == "Network from the file")
    assert picker.options == ["standard q=0.5 seed 3", "standard q=0.5 seed 4"]
    picker.set_value("standard q=0.5 seed 4").run()
    _button(at, "Load this network").click().run()
    assert not at.exception
    run = at.session_state["pg"].run
    assert any("Loaded standard q=0.5 seed 4 from sweep.pt into the dropout network" in s.value for s in at.success)
    assert all(torch.equal(a, b) for a, b in zip(run.run.model.state_dict().values(),
                                                 models["standard q=0.5 seed 4"].state_dict().values()))
    assert run.record.loaded_weights == [{"step": 0, "file": "sweep.pt (standard q=0.5 seed 4)"}]
    assert not any(s.label == "Network from the file" for s in at.selectbox)


def _epoch(at: AppTest, key: str = "pg") -> None:
    run = at.session_state[key].run
    epoch = run.run.epoch
    while run.run.epoch == epoch:
        _button(at, "Step").click().run()


def test_pins_stay_on_the_curves_up_to_three_and_reset_all_clears_them():
    at = _open(PLAYGROUND)
    assert _button(at, "Pin this run").disabled  # nothing trained yet: nothing to pin
    _epoch(at)
    for _ in range(4):
        _button(at, "Pin this run").click().run()
    state = at.session_state["pg"]
    assert len(state.pins) == 3 and state.run.pinned is state.pins
    curves = state.run.curves_figure()
    pinned = [t for t in curves["data"] if t["name"].startswith("pinned q=0.5, 128-128, xor 100, epoch 1")]
    assert len(pinned) == 3 * 4 and {t["line"]["dash"] for t in pinned} == {"dot", "dash"}
    at.slider(key="pg_p").set_value(0.2).run()
    assert state.run.pinned is state.pins, "a changed setting keeps the pins"
    at.number_input(key="pg_seed").set_value(3).run()  # a new run: the pins stay for before/after
    assert len(at.session_state["pg"].pins) == 3 and at.session_state["pg"].run.pinned == state.pins
    _button(at, "Reset all").click().run()
    assert at.session_state["pg"].pins == [] and at.session_state["pg"].run.run.step == 0


def test_the_inside_page_exports_and_pins():
    at = _open(INSIDE)
    assert _downloads(at) == EXPORTS
    _button(at, "Step").click().run()
    assert not at.exception
    assert {b.label for b in at.button} >= {"Pin this run", "Reset all"}


# --- the other pages that train ---------------------------------------------------------------
PAGES = [  # (page, link, state key, networks in a weights file)
    ("pages/lab.py", {"dataset": "moons"}, "lab", 4),
    ("pages/coadaptation.py", {"dataset": "moons"}, "co", 1),
    ("pages/uncertainty.py", {"part": "classification"}, "um", 1),
    ("pages/uncertainty.py", {"part": "digits"}, "ud", 1),
    ("pages/theory.py", {"part": "averaging"}, "ta", 1),
    ("pages/theory.py", {"part": "regularisers"}, "rg", 3),
]


@pytest.mark.parametrize("page,link,key,networks", PAGES, ids=[f"{p}-{k}" for p, _, k, _ in PAGES])
def test_every_page_that_trains_exports_and_its_weights_go_back(page, link, key, networks):
    at = _open(page, **link)
    assert _downloads(at)[:3] == EXPORTS
    run = at.session_state[key].run
    _button(at, "Step").click().run()
    assert not at.exception, [e.value for e in at.exception]
    trainers = run.networks()
    assert len(trainers) == networks
    raw = weights_bytes({name: t.model for name, t in trainers.items()})
    state = torch.load(io.BytesIO(raw), weights_only=True)
    assert (len(state) == networks) if networks > 1 else all(isinstance(v, torch.Tensor) for v in state.values())
    _button(at, "Reset").click().run()
    fresh = at.session_state[key].run
    _uploader(at, "A weights file of this network (.pt)").set_value(("w.pt", raw, "x")).run()
    assert not at.exception and any("Loaded w.pt" in s.value for s in at.success), [e.value for e in at.error]
    for name, trainer in fresh.networks().items():
        assert all(torch.equal(a, b) for a, b in zip(trainer.model.state_dict().values(),
                                                     trainers[name].model.state_dict().values()))


TOY_PAGES = [(p, link, key) for p, link, key, _ in PAGES if key != "ud"]


@pytest.mark.parametrize("page,link,key", TOY_PAGES, ids=[f"{p}-{k}" for p, _, k in TOY_PAGES])
def test_every_toy_data_page_trains_on_an_upload(page, link, key):
    at = _open(page, **link)
    _uploader(at, "Your own points (CSV)").set_value(("pets.csv", _three_classes(), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    if key == "ta":  # exact averaging compares one class's probability of two
        assert any("3 classes" in e.value and "two classes" in e.value for e in at.sidebar.error)
        two = b"x1,x2,label\n" + b"".join(f"{i % 7},{i % 5},{'ab'[i % 2]}\n".encode() for i in range(40))
        _uploader(at, "Your own points (CSV)").set_value(("two.csv", two, "text/csv")).run()
        assert not at.exception
    run = at.session_state[key].run
    data = run.data
    assert data.name in ("pets.csv", "two.csv") and data.n_classes in (2, 3), data.name
    exp = run.lanes[0] if hasattr(run, "lanes") else run.exp
    assert exp.dataset == "csv" and "dataset" not in _link(at)
    _button(at, "Step").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_the_sweeps_page_exports_its_results_and_sweeps_uploaded_points():
    at = _open("pages/sweep.py", dataset="moons", epochs="2", seeds="1")
    assert _downloads(at) == ["Results CSV", "Sweep JSON", "Weights", "Points CSV"]
    weights = at.get("download_button")[2]
    assert weights.proto.disabled and "no model of the sweep has finished yet" in weights.proto.help
    _uploader(at, "Your own points (CSV)").set_value(("pets.csv", _three_classes(), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    sweep = at.session_state["sw"].run.sweep
    assert sweep.spec.base.dataset == "csv" and sweep.data.n_classes == 3 and sweep.spec.base.train_size == 63
    assert "dataset" not in _link(at) and any("not your points" in c.value for c in at.caption)
    at.radio(key="sw_over").set_value("size").run()
    assert not at.exception
    assert at.multiselect(key="sw_sizes").options == ["20", "50", "63"]
    _button(at, "Run").click().run()
    at.run()
    assert not at.exception and at.session_state["sw"].run.sweep.progress > 0


def test_the_sweeps_page_offers_its_finished_models_weights():
    at = _open("pages/sweep.py", dataset="moons", epochs="2", seeds="1", rates="0,0.5")
    _button(at, "Run").click().run()
    for _ in range(10):
        if at.session_state["sw"].run.done:
            break
        at.run()
    at.run()  # the page drawn again once done
    sweep = at.session_state["sw"].run
    weights = at.get("download_button")[2]
    assert sweep.done and weights.label == "Weights" and not weights.proto.disabled, weights.proto.help
    states = torch.load(io.BytesIO(sweep.weights(settings.WEIGHTS_MAX_BYTES)), weights_only=True)
    assert list(states) == ["no dropout q=0 seed 0", "standard q=0.5 seed 0"]


@pytest.mark.parametrize("page,part", [("pages/uncertainty.py", "regression"), ("pages/theory.py", "l2")])
def test_the_parts_of_other_runs_save_their_curves_and_weights(page, part):
    at = _open(page, part=part)
    assert _downloads(at) == ["Curves CSV", "Experiment JSON", "Weights"]
    loads = [u for u in at.get("file_uploader") if "weights" in u.proto.label]  # the ridge's linear model takes none
    assert len(loads) == (part == "regression")


def test_an_upload_is_offered_on_the_other_pages_of_the_session():
    at = _open(PLAYGROUND)
    _uploader(at, "Your own points (CSV)").set_value(("pets.csv", _three_classes(), "text/csv")).run()
    playground = at.session_state["pg"].run
    at.switch_page("pages/lab.py").run()
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="lab_dataset")
    assert "csv" in picker.options or "pets.csv (yours)" in picker.options, picker.options
    assert at.session_state["lab"].run.data.name != "pets.csv"  # offered, not forced on the page
    picker.set_value("csv").run()
    assert not at.exception, [e.value for e in at.exception]
    lab = at.session_state["lab"].run
    assert (lab.data.name, lab.data.n_classes, lab.lanes[0].train_size, lab.lanes[0].val_size) == ("pets.csv", 3, 63, 27)
    _button(at, "Step").click().run()
    assert not at.exception and at.session_state["pg"].run is playground  # the Playground keeps its own run
    at.switch_page("pages/theory.py")
    at.query_params.update({"part": "averaging"})
    at.run()
    assert "csv" not in at.selectbox(key="ta_dataset").options  # three classes: exact averaging takes two


def test_an_upload_on_a_page_showing_digits_brings_a_toy_sets_settings():
    at = _open("pages/lab.py", dataset="mnist")
    _uploader(at, "Your own points (CSV)").set_value(("pets.csv", _three_classes(), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    lab = at.session_state["lab"].run
    assert (lab.data.name, lab.data.n_features, lab.lanes[0].dataset) == ("pets.csv", 2, "csv")
    _button(at, "Step").click().run()
    assert not at.exception, [e.value for e in at.exception]
