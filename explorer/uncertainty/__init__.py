"""The Uncertainty page's backend: MC dropout on a regression, on 2-D maps and on digits."""

from __future__ import annotations

from typing import Hashable, TypeVar

from explorer import settings

# Shared by the regression and maps parts' live states.
LOOK_SEED = 10_007  # added to a run's seed: the masks of every MC look, a stream apart from training's

Kept = TypeVar("Kept", bound=tuple)


def with_look(kept: dict[Hashable, Kept], look: Hashable, entry: Kept) -> dict[Hashable, Kept]:
    """A run's analyses by look (a T, a digit and T), ``entry`` (whose second item is when it was made) put
    under ``look``, and of the others only the latest: the tabs sharing a run each keep their own look, up to
    settings.UNC_LOOKS_KEPT of them."""
    others = sorted(((k, v) for k, v in kept.items() if k != look), key=lambda item: item[1][1])
    return dict(others[max(0, len(others) - settings.UNC_LOOKS_KEPT + 1):]) | {look: entry}
