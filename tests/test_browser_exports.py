"""Data in, results out in a real browser: upload a good file and three bad ones, train, download every export
and read each back (the experiment file replays the downloaded curves exactly), load the weights back, save a
live chart as PNG from its toolbar, and pin a run."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import torch

from explorer.core.export import read_config, replay
from explorer.core.model import MLP
from explorer.core.points import read_points
from explorer.uncertainty.regression.files import read_regression
from explorer.uncertainty.regression.files import replay as regression_replay
from tests.test_browser import (  # noqa: F401  (chromium, server, new_page are fixtures)
    LIVE_CHART, _epoch, _expect, _no_exceptions, _settled, _shot, _wait_above, _wait_for_heading, chromium, new_page,
    server,
)

UPLOADER = '[data-testid="stSidebar"] [data-testid="stFileUploader"] input[type=file]'


def _three_classes() -> bytes:
    rng = np.random.default_rng(0)
    rows = "".join(f"{rng.normal(1.5 * c, 0.6):.4f},{rng.normal(c % 2, 0.6):.4f},{name}\n"
                   for c, name in enumerate(("cat", "dog", "eel")) for _ in range(30))
    return ("x1,x2,label\n" + rows).encode()


def _upload(page, name: str, raw: bytes) -> None:
    _settled(page)
    page.locator(UPLOADER).set_input_files(files=[{"name": name, "mimeType": "text/csv", "buffer": raw}])


def _download(page, label: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.get_by_role("button", name=label, exact=True).click()
    download = info.value
    with open(download.path(), "rb") as file:
        return download.suggested_filename, file.read()


def test_upload_train_download_every_export_and_read_it_back(server, new_page):
    page = new_page(server, "/playground?epochs=6")
    _wait_for_heading(page, "Playground")
    expect = _expect()
    for name, raw, words in [("empty.csv", b"", "is empty"),
                             ("cols.csv", b"x1,x2\n1,2\n", "missing column label"),
                             ("one.csv", b"x1,x2,label\n1,2,a\n3,4,a\n", "only one class")]:
        _upload(page, name, raw)
        expect(page.locator('[data-testid="stSidebar"] [data-testid="stAlert"]')
               .filter(has_text="File not used").filter(has_text=words)).to_be_visible()
    _upload(page, "pets.csv", _three_classes())
    expect(page.get_by_text("90 points of 3 classes")).to_be_visible()
    expect(page.get_by_text("not your points", exact=False)).to_be_visible()

    _settled(page)  # the upload's run has drawn every widget (``_settled``)
    page.get_by_role("button", name="Train", exact=True).click()
    _wait_above(_epoch, page, 5, timeout=60)  # the run ends at 6 and stops by itself
    expect(page.get_by_text("Epoch 6 of 6")).to_be_visible()
    _no_exceptions(page, server, "the Playground on uploaded points")

    name, raw = _download(page, "Curves CSV")
    assert name == "playground-curves.csv"
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    dropout = [r for r in rows if r["run"] == "dropout"]
    assert len(dropout) == 6 and {r["run"] for r in rows} == {"dropout", "no dropout"}

    name, raw = _download(page, "Experiment JSON")
    assert name == "playground-experiment.json"
    config = read_config(raw.decode(), name)
    assert config.points is not None and config.points.classes == ("cat", "dog", "eel")
    trainer = replay(config, "dropout")
    trainer.run()
    assert [row["val_loss"] for row in trainer.history] == [float(r["val_loss"]) for r in dropout]  # exactly

    name, raw = _download(page, "Weights")
    assert name == "playground-weights.pt"
    state = torch.load(io.BytesIO(raw), weights_only=True)
    model = MLP(config.runs["dropout"].start.model_config(2, 3))
    model.load_state_dict(state)
    weights = raw

    name, raw = _download(page, "Points CSV")
    assert name == "pets-points.csv"
    back = read_points(raw, name)
    assert len(back.y) == 90 and back.classes == ("cat", "dog", "eel")

    page.get_by_role("button", name="Load weights").click()
    page.locator('[data-testid="stPopover"] input[type=file], [data-testid="stPopoverBody"] input[type=file]').first \
        .set_input_files(files=[{"name": "back.pt", "mimeType": "application/octet-stream", "buffer": weights}])
    expect(page.get_by_text("Loaded back.pt into the dropout network")).to_be_visible()
    page.keyboard.press("Escape")
    # A click while the popover is open only closes it (a click outside a popover), so the Pin press would be lost.
    expect(page.locator('[data-testid="stPopoverBody"]')).to_be_hidden()

    _settled(page)
    page.get_by_role("button", name="Pin this run").click()
    chart = page.frame_locator(LIVE_CHART).last
    expect(chart.get_by_text("pinned q=0.5", exact=False).first).to_be_visible()
    _shot(page, "exports_playground.png")

    chart.locator(".svg-container").first.hover()
    with page.expect_download() as info:
        chart.get_by_role("button", name="Download plot as a PNG").click()
    assert info.value.suggested_filename == "dropout-explorer-curves.png"
    with open(info.value.path(), "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    _no_exceptions(page, server, "the Playground after its exports")


def _trained_exports(page, heading: str, finished: str) -> tuple[str, bytes, list[dict]]:
    """Train the page until its status line says ``finished``, then download its experiment file (name, bytes)
    and its curves (rows)."""
    _wait_for_heading(page, heading)
    page.get_by_role("button", name="Train", exact=True).click()
    _expect()(page.get_by_text(finished)).to_be_visible(timeout=60_000)
    name, raw = _download(page, "Experiment JSON")
    _, curves = _download(page, "Curves CSV")
    return name, raw, list(csv.DictReader(io.StringIO(curves.decode())))


def test_the_inside_page_downloads_an_experiment_that_replays(server, new_page):
    page = new_page(server, "/inside?train_size=200&val_size=100&hidden=32&epochs=1")
    name, raw, rows = _trained_exports(page, "Inside the network", "Epoch 1 of 1")
    config = read_config(raw.decode(), name)
    assert json.loads(raw)["page"] == "Inside the network"
    trainer = replay(config, "no dropout")
    trainer.run()
    expected = [float(r["val_acc"]) for r in rows if r["run"] == "no dropout"]
    assert [row["val_acc"] for row in trainer.history] == expected
    _no_exceptions(page, server, "the Inside page after its exports")


def test_the_lab_on_uploaded_points_downloads_a_file_that_replays_every_lane(server, new_page):
    page = new_page(server, "/lab?dataset=moons&epochs=3")
    _wait_for_heading(page, "Variants lab")
    _upload(page, "pets.csv", _three_classes())
    _expect()(page.get_by_text("90 points of 3 classes")).to_be_visible()
    _settled(page)
    page.get_by_role("button", name="Train", exact=True).click()
    _expect()(page.get_by_text("Epoch 3 of 3", exact=False)).to_be_visible(timeout=60_000)
    name, raw = _download(page, "Experiment JSON")
    config = read_config(raw.decode(), name)
    assert config.points is not None and len(config.runs) == 4
    _, curves = _download(page, "Curves CSV")
    rows = list(csv.DictReader(io.StringIO(curves.decode())))
    for lane in config.runs:
        trainer = replay(config, lane)
        trainer.run()
        assert [row["val_loss"] for row in trainer.history] == [float(r["val_loss"]) for r in rows if r["run"] == lane]
    _, points = _download(page, "Points CSV")
    assert read_points(points, "back.csv").classes == ("cat", "dog", "eel")
    _no_exceptions(page, server, "the lab on uploaded points")


def test_the_regression_part_downloads_a_file_that_replays(server, new_page):
    page = new_page(server, "/uncertainty?part=regression&epochs=40")
    name, raw, rows = _trained_exports(page, "Uncertainty", "Epoch 40 of 40")
    assert name == "uncertainty-regression-experiment.json" and len(rows) == 40
    start, changes, _ = read_regression(raw.decode(), name)
    assert [row["val_mse"] for row in regression_replay(start, changes).history] == [float(r["val_mse"]) for r in rows]
    _no_exceptions(page, server, "the regression part after its exports")


def test_a_sweeps_weights_file_offers_its_networks_and_loads_the_one_picked(server, new_page):
    """A file of several networks (the Sweeps page's Weights, or ``sweep --save-weights``) loaded into the
    Playground: the networks with the page's layers are offered, and the one picked is the page's network after."""
    from dataclasses import replace

    from explorer.core.experiment import Experiment
    from explorer.core.weights import weights_bytes
    from explorer.playground.state import Playground

    models = {f"standard q=0.5 seed {seed}": Playground(replace(Experiment(), seed=seed)).run.model for seed in (3, 4)}
    models["narrow"] = Playground(replace(Experiment(), hidden=(8,))).run.model
    page = new_page(server, "/playground")
    _wait_for_heading(page, "Playground")
    expect = _expect()
    page.get_by_role("button", name="Load weights").click()
    page.locator('[data-testid="stPopoverBody"] input[type=file]').first.set_input_files(
        files=[{"name": "sweep.pt", "mimeType": "application/octet-stream", "buffer": weights_bytes(models)}])
    expect(page.get_by_text("sweep.pt holds 3 networks; 2 with this page's layers: choose one")).to_be_visible()
    _settled(page)
    if not page.locator('[data-testid="stPopoverBody"]').is_visible():
        page.get_by_role("button", name="Load weights").click()
    body = page.locator('[data-testid="stPopoverBody"]')
    # By keyboard, as a person may: a popover low on the page opens partly below the window, where a click
    # cannot reach.
    combo = body.get_by_role("combobox")
    expect(combo).to_have_value("standard q=0.5 seed 3")  # the picker shows the first of the two
    combo.focus()
    page.keyboard.press("ArrowDown")  # opens the list
    options = page.get_by_role("option")
    expect(options).to_have_count(2)
    assert options.all_inner_texts() == ["standard q=0.5 seed 3", "standard q=0.5 seed 4"]
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(combo).to_have_value("standard q=0.5 seed 4")
    _settled(page)
    body.get_by_role("button", name="Load this network").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Loaded standard q=0.5 seed 4 from sweep.pt into the dropout network")).to_be_visible()
    page.keyboard.press("Escape")
    expect(body).to_be_hidden()
    _settled(page)
    _, raw = _download(page, "Weights")
    loaded = torch.load(io.BytesIO(raw), weights_only=True)
    chosen = models["standard q=0.5 seed 4"].state_dict()
    assert loaded.keys() == chosen.keys() and all(torch.equal(loaded[k], chosen[k]) for k in chosen)
    _no_exceptions(page, server, "the Playground after loading a sweep's network")
