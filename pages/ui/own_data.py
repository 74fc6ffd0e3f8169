"""Your own 2-D points on a page that trains on toy data: the dataset picker with an uploaded file in it.

An upload is read and checked in the uploader's callback (``explorer.core.points``),
before anything trains: a bad file leaves a message and the run as it was. A good
one becomes the page's dataset ``csv`` (shown under the file's name), sets the
sizes to the file's split and drops the run, so the next run of the page builds
one on the new points. The points stay in the session (at most
settings.UPLOAD_MAX_BYTES), never in the link, and the session's last upload
is offered on the other pages' pickers too: a student uploads once. A page
keeps the file its run trains on until it picks (or uploads) another.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable, Sequence

import streamlit as st

from explorer import settings
from explorer.core.datasets import TOY_DATASETS, Dataset
from explorer.core.experiment import CSV, Experiment, format_field
from explorer.core.export import data_of
from explorer.core.points import COLUMNS, Points, PointsError, dataset_csv, read_points
from pages.ui.data import shared_data
from pages.ui.state import LiveState

FORMAT_HELP = (f"A CSV file with a header naming the columns {','.join(COLUMNS)}, then one point per line; labels "
               f"are integers or words, 2 to {settings.UPLOAD_MAX_CLASSES} classes, at most "
               f"{settings.UPLOAD_MAX_ROWS:,} points and {settings.UPLOAD_MAX_BYTES / 1e6:g} MB. It stays in this "
               "browser session (every page that trains on 2-D points offers it): it is not in the page's link.")
LAST_UPLOAD = "own_points"  # the session's last good upload, offered by every page's picker
FIRST_TOY = next(iter(TOY_DATASETS))  # whose defaults a page with its own per dataset gives a file's points


def uploaded(prefix: str) -> Points | None:
    """The uploaded points this page trains on (or last trained on), if any."""
    return st.session_state.get(prefix + "points")


def offered(prefix: str, max_classes: int = settings.UPLOAD_MAX_CLASSES) -> Points | None:
    """The file the page's picker offers: its own while it is the page's dataset, else the session's last upload
    (made on any page) if the page can take its classes, else its own."""
    s = st.session_state
    own, last = uploaded(prefix), s.get(LAST_UPLOAD)
    if own is not None and s.get(prefix + "dataset") == CSV:
        return own
    return last if last is not None and last.n_classes <= max_classes else own


def points_of(prefix: str, exp: Experiment) -> Points | None:
    """The uploaded points an experiment trains on (``csv``), which its file must carry; None for any other set."""
    return uploaded(prefix) if exp.dataset == CSV else None


Defaults = Callable[[str], Experiment]  # a page's settings for a dataset (the lab's, the co-adaptation page's…)


def dataset_picker(prefix: str, state: LiveState, datasets: Sequence[str] = TOY_DATASETS,
                   defaults: Defaults | None = None, max_classes: int = settings.UPLOAD_MAX_CLASSES) -> None:
    """The Dataset select (the page's ``datasets``, and the uploaded file once there is one) and the uploader.

    ``defaults``: on a page where a dataset brings its own settings (an MNIST reference run, toy defaults), a
    choice applies them, and an upload those of a toy set when it leaves an image set. ``max_classes``: what the
    page's analyses can take (exact averaging's difference maps: two)."""
    sb, points = st.sidebar, offered(prefix, max_classes)
    options = [*datasets, *([CSV] if points else [])]
    if st.session_state.get(prefix + "dataset") not in options:
        st.session_state[prefix + "dataset"] = options[0]
    sb.selectbox("Dataset", options, key=prefix + "dataset", on_change=_picked, args=(prefix, state, defaults, points),
                 format_func=lambda k: _shown(k, points))
    sb.file_uploader("Your own points (CSV)", type=["csv"], key=prefix + "upload", on_change=_upload,
                     args=(prefix, state, defaults, max_classes), help=FORMAT_HELP)
    error = st.session_state.get(prefix + "upload_error")
    if error:
        sb.error(f"File not used: {error}", icon=":material/error:")
    elif points is not None and st.session_state.get(prefix + "dataset") == CSV:
        counts = ", ".join(f"{n} × {c}" for c, n in zip(points.classes, _counts(points)))
        sb.caption(f"{len(points.y):,} points of {points.n_classes} classes ({counts}); the training and validation "
                   "points are a stratified split of them.")


def _shown(dataset: str, points: Points | None) -> str:
    if dataset == CSV and points is not None:
        return f"{points.name} (yours)"
    return "MNIST subset (5,000 digits)" if dataset == "mnist" else dataset.capitalize()


def _apply(prefix: str, exp: Experiment) -> None:
    """Put an experiment's settings into the page's widgets."""
    for f in fields(Experiment):
        st.session_state[prefix + f.name] = format_field(exp.hidden) if f.name == "hidden" else getattr(exp, f.name)


def _counts(points: Points) -> list[int]:
    return [int((points.y == c).sum()) for c in range(points.n_classes)]


def _upload(prefix: str, state: LiveState, defaults: Defaults | None = None,
            max_classes: int = settings.UPLOAD_MAX_CLASSES) -> None:
    """Read the new file; on success make it the page's dataset and drop the run, which its next run rebuilds."""
    s = st.session_state
    file = s.get(prefix + "upload")
    if file is None:  # the file was removed from the uploader: its points stay until another replaces them
        s[prefix + "upload_error"] = ""
        return
    try:
        points = read_points(file.getvalue(), file.name)
    except PointsError as err:
        s[prefix + "upload_error"] = str(err)
        return
    if points.n_classes > max_classes:
        s[prefix + "upload_error"] = (f"{file.name} has {points.n_classes} classes; this part compares the "
                                      f"probability of one class of two: upload a file of two classes here (the "
                                      f"Playground takes up to {settings.UPLOAD_MAX_CLASSES})")
        return
    s[LAST_UPLOAD], s[prefix + "upload_error"] = points, ""
    if defaults is not None and s.get(prefix + "dataset") not in (*TOY_DATASETS, CSV):  # from an image set
        _apply(prefix, defaults(FIRST_TOY))
    _adopt(prefix, state, points)


def _adopt(prefix: str, state: LiveState, points: Points) -> None:
    """Make ``points`` the page's dataset, with the file's split, and drop the run: its next run is built on them."""
    s = st.session_state
    s[prefix + "points"] = points
    _use_points(prefix, points)
    train_size, val_size = points.default_split()
    s[prefix + "train_size"], s[prefix + "val_size"], s[prefix + "label_noise"] = train_size, val_size, 0.0
    state.run, state.running = None, False


def _use_points(prefix: str, points: Points) -> None:
    s = st.session_state
    s[prefix + "dataset"], s[prefix + "data_file"], s[prefix + "noise"] = CSV, points.name, 0.0
    if prefix + "model" in s:
        s[prefix + "model"] = "mlp"  # 2-D points: no CNN


def _picked(prefix: str, state: LiveState, defaults: Defaults | None, points: Points | None) -> None:
    """A built-in set forgets the file's name (it reads none) and brings its defaults if the page has them; the
    offered file (``points``) takes the name back, or, uploaded on another page, comes with its split (and a toy
    set's defaults) as an upload here would."""
    chosen = st.session_state[prefix + "dataset"]
    if chosen == CSV and points is not None:
        if points is uploaded(prefix):
            _use_points(prefix, points)
            return
        if defaults is not None:
            _apply(prefix, defaults(FIRST_TOY))
        _adopt(prefix, state, points)
        return
    if defaults is not None:
        _apply(prefix, defaults(chosen))
    st.session_state[prefix + "data_file"] = ""


def noise_slider(prefix: str) -> None:
    """The generated sets' input noise; none for a file's points, which are used as they are."""
    if st.session_state[prefix + "dataset"] != CSV:
        st.sidebar.slider("Input noise", 0.0, settings.MAX_NOISE, step=0.05, key=prefix + "noise")


def size_problem(exp: Experiment, points: Points | None) -> str:
    """Why the uploaded points cannot give the sizes asked for ("" if they can)."""
    if exp.dataset != CSV or points is None:
        return ""
    if exp.train_size + exp.val_size > len(points.y):
        return (f"{points.name} has {len(points.y):,} points: training {exp.train_size:,} + validation "
                f"{exp.val_size:,} is more")
    if min(exp.train_size, exp.val_size) < points.n_classes:
        return f"{points.name} has {points.n_classes} classes: training and validation need as many points each"
    return ""


def page_data(prefix: str, exp: Experiment) -> Dataset:
    """The data of a page that shares its built-in sets between sessions (``pages.ui.data``): the uploaded points
    for ``csv``."""
    data = data_maker(prefix)(exp)
    return data if data is not None else shared_data(exp)


def data_maker(prefix: str) -> Callable[[Experiment], Dataset | None]:
    """What a page's run is made on: the uploaded points for ``csv``, else None (the page generates its set)."""
    return lambda exp: data_of(exp, uploaded(prefix))


def link_note(exp: Experiment, default: str = Experiment.dataset) -> str:
    """What the link holds, said next to it: everything, or everything but the uploaded points (a shared link
    opens the page's ``default`` dataset)."""
    if exp.dataset != CSV:
        return "The address bar holds this experiment: copy it to share it."
    return (f"The address bar holds these settings but not your points: uploaded data is not in links, so a "
            f"shared link opens on the {_shown(default, None)}" + (" set." if default != "mnist" else "."))


def points_button(data: Dataset) -> Callable[[Any], None] | None:
    """The export row's Points CSV of a page's data, if it is 2-D points (not digits)."""
    if data.n_features != 2:
        return None
    return lambda row: download_points(row, data)


def download_points(column: Any, data: Dataset) -> None:
    """A button that downloads the current points as the CSV an upload reads (built when pressed)."""
    name = data.name
    column.download_button("Points CSV", data=lambda: dataset_csv(data), file_name=f"{name.removesuffix('.csv')}"
                           "-points.csv", mime="text/csv", on_click="ignore", icon=":material/download:",
                           help="The training and validation points as the network sees them (standardised), in "
                                "the upload format: x1,x2,label, and split.")
