"""The sidebar's display options through AppTest, on every page: the colour-blind palette changes every chart, and
every live chart carries its description (shown under it when asked)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("streamlit")

from explorer.core.accessible import OKABE_ITO  # noqa: E402
from tests.test_app import _home, _open  # noqa: E402

PAGES = ["pages/playground.py", "pages/inside.py", "pages/lab.py", "pages/sweep.py", "pages/coadaptation.py",
         "pages/uncertainty.py", "pages/theory.py"]
PARTS = {"pages/uncertainty.py": ["regression", "classification", "digits"],
         "pages/theory.py": ["l2", "averaging", "regularisers"]}


def _live_charts(at) -> list[dict]:
    """Each live chart's arguments, its figure's JSON (sent as bytes) decoded under "spec"."""
    return [json.loads(c.proto.json_args) | {a.key: a.bytes.decode() for a in c.proto.special_args}
            for c in at.get("component_instance")]


def _app_colours(text: str) -> set[str]:
    return {colour for colour in OKABE_ITO if colour in text.lower()}


@pytest.mark.parametrize("page, part", [(p, part) for p in PAGES for part in PARTS.get(p, [""])])
def test_the_palette_changes_every_live_chart_and_each_is_described(page, part):
    at = _open(page, **({"part": part} if part else {}))
    charts = _live_charts(at)
    assert charts, "the page draws live charts"
    if page != "pages/sweep.py":  # a sweep not yet run draws empty axes
        assert any(_app_colours(c["spec"]) for c in charts), "the default palette uses the app's colours"
    assert all(c["summary"] and not c["words"] for c in charts)
    at.sidebar.selectbox(key="palette").set_value("colour-blind").run()
    at.sidebar.toggle(key="describe_charts").set_value(True).run()
    charts = _live_charts(at)
    left = {c["summary"][:40]: _app_colours(c["spec"]) for c in charts if _app_colours(c["spec"])}
    assert not left, f"charts still in the default palette: {left}"
    assert all(c["words"] for c in charts)


def test_the_home_pages_charts_take_the_palette():
    at = _home()
    assert any(_app_colours(c.proto.spec) for c in at.get("plotly_chart"))
    at.sidebar.selectbox(key="palette").set_value("colour-blind").run()
    assert not any(_app_colours(c.proto.spec) for c in at.get("plotly_chart"))
