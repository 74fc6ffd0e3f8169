"""A network's trained weights as a file, and back into a page's network.

The file is torch's own: ``torch.save`` of the model's ``state_dict``, so in a
notebook ``MLP(cfg).load_state_dict(torch.load(f, weights_only=True))`` reads
it (``weights_only``: no pickled code runs). Loading one into a page checks
that it is such a file, whole, of the page's architecture, with finite
numbers; each failure is a ``WeightsError`` with a sentence that says which.
"""

from __future__ import annotations

import io

import torch

from explorer import settings
from explorer.core.training import Trainer, make_optimizer


class WeightsError(ValueError):
    """A file that cannot be loaded into this network; the message says why."""


def weights_bytes(model: torch.nn.Module) -> bytes:
    """The model's ``state_dict`` as torch saves it."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def read_weights(raw: bytes, name: str) -> dict[str, torch.Tensor]:
    """A weights file's tensors; ``WeightsError`` if it is not a whole torch file of named tensors."""
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
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise WeightsError(f"{name} holds no network weights (expected a state_dict: names → tensors)")
    return state


def _truncated_zip(raw: bytes) -> bool:
    """torch.save writes a zip: one that starts like one but lost its end was cut short."""
    return raw[:4] == b"PK\x03\x04" and b"PK\x05\x06" not in raw[-4096:]


def layer_sizes(state: dict[str, torch.Tensor]) -> str:
    """The architecture a state_dict describes, as widths: "2-128-128-2" (a CNN's as its layers' shapes)."""
    weights = [v for k, v in state.items() if k.endswith("weight") and v.dim() >= 2]
    if weights and all(w.dim() == 2 for w in weights):
        return "-".join(str(n) for n in [weights[0].shape[1], *(w.shape[0] for w in weights)])
    return ", ".join("×".join(map(str, w.shape)) for w in weights) or "no weight matrices"


def load_weights(trainer: Trainer, raw: bytes, name: str) -> None:
    """Put a weights file into the trainer's network and start its optimiser afresh (its moments belonged to
    the weights it had); ``WeightsError``, the network untouched, if the file does not fit."""
    state = read_weights(raw, name)
    own = trainer.model.state_dict()
    shapes = {k: tuple(v.shape) for k, v in own.items()}
    if set(state) != set(own) or any(tuple(state[k].shape) != shapes[k] for k in own):
        raise WeightsError(f"{name} holds a different network: layers {layer_sizes(state)}, and this page's are "
                           f"{layer_sizes(own)}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise WeightsError(f"{name} holds NaN or infinite numbers (in {bad[0]})")
    with torch.no_grad():
        trainer.model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    trainer.optimizer = make_optimizer(trainer.model.parameters(), trainer.cfg)
