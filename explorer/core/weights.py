"""A page's trained weights as a file, and back into the page's networks.

The file is torch's own: ``torch.save`` of the network's ``state_dict``, so in a
notebook ``MLP(cfg).load_state_dict(torch.load(f, weights_only=True))`` reads
it (``weights_only``: no pickled code runs); a page of several networks (the
lab's lanes) saves ``{name: state_dict}``. Loading one into a page checks that
it is such a file, whole, of the page's architecture, with finite numbers; each
failure is a ``WeightsError`` with a sentence that says which, and no network
is touched unless every one fits.
"""

from __future__ import annotations

import io
from typing import Mapping, NoReturn, Protocol

import torch

from explorer import settings


class WeightsError(ValueError):
    """A file that cannot be loaded into this network; the message says why."""


class Choose(WeightsError):
    """A file of several networks (a sweep's, a lab's) for a page that trains one: ``names`` are those with the
    page's layers, one of which the person picks (``load_weights(..., pick=name)``)."""

    def __init__(self, message: str, names: list[str]) -> None:
        super().__init__(message)
        self.names = names


class Loadable(Protocol):
    """A trainer weights can be loaded into: its network, and a way to start its optimiser afresh."""

    model: torch.nn.Module

    def restart_optimizer(self) -> None: ...


State = dict[str, torch.Tensor]


def weights_bytes(networks: Mapping[str, torch.nn.Module]) -> bytes:
    """One network's ``state_dict``, or several as ``{name: state_dict}``, as torch saves them."""
    states = {name: model.state_dict() for name, model in networks.items()}
    buffer = io.BytesIO()
    torch.save(next(iter(states.values())) if len(states) == 1 else states, buffer)
    return buffer.getvalue()


def read_weights(raw: bytes, name: str) -> State | dict[str, State]:
    """A weights file's tensors by name (or several networks' by network); ``WeightsError`` if it is not a whole
    torch file of them."""
    if len(raw) > settings.WEIGHTS_MAX_BYTES:
        raise WeightsError(f"{name} is {len(raw) / 1e6:.0f} MB; weights files of at most "
                           f"{settings.WEIGHTS_MAX_BYTES / 1e6:g} MB are accepted")
    if not raw:
        raise WeightsError(f"{name} is empty")
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, … by format and damage
        reason = "it is cut short" if _truncated_zip(raw) else "torch cannot read it"
        raise WeightsError(f"{name} is not a weights file saved by this app or torch.save: {reason} "
                           f"({type(err).__name__})") from None
    if not (_is_state(state) or isinstance(state, dict) and state and all(
            isinstance(k, str) and _is_state(v) for k, v in state.items())):
        raise WeightsError(f"{name} holds no network weights (expected a state_dict: names → tensors)")
    return state


def _is_state(value: object) -> bool:
    return isinstance(value, dict) and bool(value) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def _truncated_zip(raw: bytes) -> bool:
    """torch.save writes a zip: one that starts like one but lost its end was cut short."""
    return raw[:4] == b"PK\x03\x04" and b"PK\x05\x06" not in raw[-4096:]


def layer_sizes(state: dict[str, torch.Tensor]) -> str:
    """The architecture a state_dict describes, as widths: "2-128-128-2" (a CNN's as its layers' shapes)."""
    weights = [v for k, v in state.items() if k.endswith("weight") and v.dim() >= 2]
    if weights and all(w.dim() == 2 for w in weights):
        return "-".join(str(n) for n in [weights[0].shape[1], *(w.shape[0] for w in weights)])
    return ", ".join("×".join(map(str, w.shape)) for w in weights) or "no weight matrices"


def load_weights(trainers: Mapping[str, Loadable], raw: bytes, name: str, pick: str | None = None) -> None:
    """Put a weights file into the trainers' networks and start their optimisers afresh (their moments belonged
    to the weights they had); ``WeightsError``, every network untouched, if the file does not fit them all.

    Into a page that trains one network, a file of several (a sweep's models, a lab's lanes) loads the one
    named ``pick``; without it, ``Choose`` names those with the page's layers."""
    read = read_weights(raw, name)
    if len(trainers) == 1:
        network = next(iter(trainers))
        if not _is_state(read):
            if pick not in read:
                _choose(read, trainers[network].model.state_dict(), name)
            read, name = read[pick], f"{name} ({pick})"
        states = {network: read}
    else:
        if _is_state(read):
            raise WeightsError(f"{name} holds one network; this page trains {len(trainers)}: "
                               f"{', '.join(trainers)}")
        if set(read) != set(trainers):
            raise WeightsError(f"{name} holds the networks {', '.join(read)}; this page's are {', '.join(trainers)}")
        states = read
    for network, state in states.items():
        _check(state, trainers[network].model.state_dict(), name if len(states) == 1 else f"{name} ({network})")
    for network, state in states.items():
        model = trainers[network].model
        own = model.state_dict()
        with torch.no_grad():
            model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
        trainers[network].restart_optimizer()


def _choose(states: dict[str, State], own: State, name: str) -> NoReturn:
    """No network picked from a file of several: ``Choose`` those with the page's layers, or say none has."""
    fits = [network for network, state in states.items() if _fits(state, own)]
    if not fits:
        raise WeightsError(f"{name} holds {len(states)} networks ({', '.join(states)}), none with this page's "
                           f"layers ({layer_sizes(own)})")
    raise Choose(f"{name} holds {len(states)} networks; {len(fits)} with this page's layers: choose one", fits)


def _fits(state: State, own: State) -> bool:
    return set(state) == set(own) and all(state[k].shape == own[k].shape for k in own)


def _check(state: State, own: State, name: str) -> None:
    if not _fits(state, own):
        raise WeightsError(f"{name} holds a different network: layers {layer_sizes(state)}, and this page's are "
                           f"{layer_sizes(own)}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise WeightsError(f"{name} holds NaN or infinite numbers (in {bad[0]})")
