"""Dropout Explorer: the router and the home page.

Streamlit runs this file first for every page, whether it was reached through
the menu or by a deep link, so the shared sidebar and process settings are set
up here once and every page looks the same however it was opened.
"""

from pathlib import Path

import numpy as np
import streamlit as st

from explorer import settings
from explorer.core import figures, heap
from pages.ui import access, controls, janitor, message_queue, present, site

st.set_page_config(page_title="Dropout Explorer", page_icon=":material/grain:", layout="wide")


@st.cache_resource
def _configure_process() -> None:
    settings.configure_torch(shared=True)
    heap.limit_arenas(settings.MALLOC_ARENAS)
    janitor.start()
    message_queue.install()


def home() -> None:
    st.title("Dropout Explorer")
    st.markdown(
        "**Dropout** trains a neural network while randomly switching off units. At every training "
        "step each unit is dropped with probability **q** (the *drop rate*), independently for "
        "every example, so each step trains a different *thinned* network; all of them share "
        "the same weights. A unit can no longer count on particular partners being present, so it "
        "has to be useful on its own: dropout prevents the *co-adaptation* that lets a large "
        "network memorise a small training set."
    )
    sizes = [4, 6, 6, 2]
    mask = [np.array(m, bool) for m in ([1, 1, 0, 1], [1, 0, 1, 1, 0, 0], [0, 1, 1, 0, 1, 1])]
    left, right = st.columns(2)
    left.plotly_chart(
        access.prepare(figures.network_figure(sizes, mask, title="Training: one thinned network", height=300)),
        key="home_train",
    )
    right.plotly_chart(
        access.prepare(figures.network_figure(sizes, [np.ones(n, bool) for n in sizes[:-1]],
                                              title="Inference: the whole network", height=300)),
        key="home_infer",
    )
    st.caption("Blue: a unit that takes part. Grey cross: a dropped unit, silent in the forward and the backward pass "
               "of that step. A new mask is drawn for every example at every step.")
    st.subheader("Training and inference")
    st.markdown(
        "At test time nothing is dropped. The full network must then see activations of the same "
        "expected size as during training, where only a fraction **k = 1 − q** (the *keep "
        "probability*) of the units was on. There are two equivalent ways to arrange that:"
    )
    inverted, scaling = st.columns(2)
    with inverted:
        st.markdown("**Inverted dropout** (torch's `nn.Dropout`, today's default): scale the survivors "
                    "up by 1/k while training; run the network unchanged at test time.")
        st.latex(r"\begin{aligned}\text{train: }& \tilde h = \tfrac{1}{k}\, m \odot h,\quad m_j \sim \mathrm{Bernoulli}(k)"
                 r"\\ \text{test: }& \tilde h = h\end{aligned}")
    with scaling:
        st.markdown("**Weight scaling** (the original paper): no scaling while training; multiply the "
                    "outgoing weights by k at test time.")
        st.latex(r"\begin{aligned}\text{train: }& \tilde h = m \odot h,\quad m_j \sim \mathrm{Bernoulli}(k)"
                 r"\\ \text{test: }& \tilde h = k\,h\end{aligned}")
    st.markdown(
        "Both keep the expected activation the same in training and at test time, and they give the "
        "same test-time network (the weights differ by a factor k). The scaled full network is a "
        "cheap stand-in for averaging the predictions of all 2ⁿ thinned networks. "
        "Watch out for the convention: torch's `p` is the **drop** rate q, while Srivastava et al. "
        "(2014) write p for the **keep** probability. This app always says *drop rate*."
    )
    st.subheader("Explore")
    for info in site.PAGES:
        st.page_link(info.script, label=f"{info.title}: {info.blurb}", icon=info.icon)


pages = [
    st.Page(home, title="Home", icon=":material/home:", default=True),
    *(st.Page(info.script, title=info.title, icon=info.icon, url_path=info.path) for info in site.PAGES),
]
page = st.navigation(pages)
st.logo(str(Path(__file__).parent / "assets" / "logo.svg"))
_configure_process()
# Less empty space above each page's title: it matters on a 1280×720 projector.
st.html("<style>[data-testid='stMainBlockContainer'] { padding-top: 2.5rem; }</style>")
present.setup(page.url_path)
display = st.sidebar.expander("Display", icon=":material/visibility:")  # first in the sidebar, filled after the page
controls.page_run()
page.run()
controls.release_undrawn()
present.finish(display)
access.choose(display)
st.sidebar.caption("q is the drop rate: the probability that a unit is dropped (torch's `p`); k = 1 − q is the keep probability.")
