"""The Playground page's backend: a run on toy data and its twin."""
