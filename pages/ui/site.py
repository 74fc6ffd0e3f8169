"""The app's pages in one list: the menu (app.py), the home page's links and the lessons all read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    path: str               # its URL path, and its script pages/<path>.py
    title: str              # in the menu
    named: str              # in a sentence: "Open the Playground with this lesson's settings"
    icon: str
    blurb: str              # the home page's link: "<title>: <blurb>"
    state: tuple[str, ...]  # its keys in the session state, that a lesson drops (controls.forget_page)
    start: str = "Train"    # the button that starts its run, as a lesson names it

    @property
    def script(self) -> str:
        return f"pages/{self.path}.py"


PAGES = (
    Page("lessons", "Lessons", "Lessons", ":material/school:",
         "nine short experiments that tell the story of dropout, each with a question to answer first; for a "
         "class or on your own", ("ls",)),
    Page("playground", "Playground", "the Playground", ":material/tune:",
         "train live on toy data, slide the drop rate, compare with a twin trained without dropout", ("pg",)),
    Page("inside", "Inside the network", "Inside the network", ":material/neurology:",
         "real MNIST digits, the masks of every step, activations and first-layer features with and without "
         "dropout", ("in",)),
    Page("lab", "Variants lab", "the Variants lab", ":material/compare:",
         "every dropout variant, two to six trained side by side on the same data and weights, with the noise "
         "each applies", ("lab",)),
    Page("sweep", "Sweeps", "Sweeps", ":material/show_chart:",
         "error vs drop rate and vs data size (the paper's Fig. 9 and 10), dozens of networks trained in batches",
         ("sw",), start="Run"),
    Page("coadaptation", "Co-adaptation", "Co-adaptation", ":material/hub:",
         "how much units lean on each other, with and without dropout: correlations, DeCov, unit removal and "
         "pairwise interactions", ("co",)),
    Page("uncertainty", "Uncertainty", "Uncertainty", ":material/blur_on:",
         "MC dropout's predictive spread on a curve with a gap, entropy and mutual information maps, digits "
         "rotated out of distribution", ("un", "ur", "um", "ud")),
    Page("theory", "Theory", "Theory", ":material/functions:",
         "dropout as L2 in closed form, the exact average of all 2ⁿ thinned networks, dropout vs weight decay vs "
         "early stopping", ("th", "l2", "ta", "rg")),
)
BY_PATH = {page.path: page for page in PAGES}
