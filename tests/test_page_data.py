"""The pages' one cached data loader: one dataset per data setting, whatever else the experiments differ in."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

pytest.importorskip("streamlit")

from explorer.core.experiment import defaults_for, make_data  # noqa: E402
from pages.ui.data import shared_data  # noqa: E402


def test_experiments_with_the_same_data_settings_share_one_dataset_equal_to_make_data():
    base = defaults_for("moons")
    first = shared_data(replace(base, hidden=(8,), p=0.3))
    assert shared_data(replace(base, epochs=7, variant="gaussian")) is first, "only the data settings count"
    reference = make_data(base)
    for name in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.equal(getattr(first, name), getattr(reference, name)), name
    assert shared_data(replace(base, seed=1)) is not first and shared_data(replace(base, noise=base.noise + 0.1)) is not first
