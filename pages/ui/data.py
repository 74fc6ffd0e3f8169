"""The one cached data loader of the pages: a dataset made once per server and shared by every session."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from explorer.core.datasets import Dataset
from explorer.core.experiment import Experiment, make_data

# The fields make_data reads: two experiments equal in these have the same data.
DATA_FIELDS = ("dataset", "train_size", "val_size", "noise", "label_noise", "seed", "data_dir")


@st.cache_resource(max_entries=16, show_spinner="Loading the data…")
def _made(values: tuple) -> Dataset:
    return make_data(replace(Experiment(), **dict(zip(DATA_FIELDS, values))))


def shared_data(exp: Experiment) -> Dataset:
    """``make_data(exp)``, made once per server for each data setting and shared read-only by every session:
    training never writes a dataset, and a class of thirty on one split of MNIST holds it once."""
    return _made(tuple(getattr(exp, name) for name in DATA_FIELDS))
