"""A sweep's trained models, written to disk as each stack finishes, and bundled into one torch file when asked.

A stack's weights leave memory when it is done (a sweep holds one stack at a
time, issue #13), so its models' ``state_dict``s go to a folder of the sweep's
own first: the Sweeps page's largest sweep would otherwise keep ~300 MB per
student. The bundle is ``{name: state_dict}``, each loadable into ``MLP(cfg)``
with ``torch.load(FILE, weights_only=True)``. The folder goes with the sweep.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import weakref
from pathlib import Path

import torch

State = dict[str, torch.Tensor]


class SavedModels:
    """The finished models' weights, a file per stack in a temporary folder removed when this object goes."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="dropout-explorer-sweep-"))
        weakref.finalize(self, shutil.rmtree, self.folder, True)
        self.files: list[Path] = []

    def __deepcopy__(self, memo: dict) -> SavedModels:
        """A folder of its own with the same files (a tab's own copy of a shared sweep keeps what it had)."""
        copy = SavedModels()
        for path in self.files:
            copy.files.append(Path(shutil.copy2(path, copy.folder / path.name)))
        return copy

    def add(self, states: dict[str, State]) -> None:
        path = self.folder / f"stack-{len(self.files)}.pt"
        torch.save(states, path)
        self.files.append(path)

    @property
    def nbytes(self) -> int:
        return sum(path.stat().st_size for path in self.files)

    def bundle(self) -> bytes:
        """Every saved model's ``state_dict`` by name, as one file torch saves."""
        states: dict[str, State] = {}
        for path in self.files:
            states.update(torch.load(path, weights_only=True))
        buffer = io.BytesIO()
        torch.save(states, buffer)
        return buffer.getvalue()
