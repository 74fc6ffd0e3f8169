"""Dropout variants behind one interface; importing this package registers them all (in the issue's order)."""

from explorer.dropout import bernoulli  # noqa: F401  (registers standard and weight-scaling)
from explorer.dropout import gaussian  # noqa: F401  (each of these registers its variant)
from explorer.dropout import uniform  # noqa: F401
from explorer.dropout import dropconnect  # noqa: F401
from explorer.dropout import standout  # noqa: F401
from explorer.dropout import multisample  # noqa: F401
from explorer.dropout import spatial  # noqa: F401
from explorer.dropout import dropblock  # noqa: F401
from explorer.dropout import alpha  # noqa: F401
from explorer.dropout import concrete  # noqa: F401
from explorer.dropout.base import (VARIANTS, DropoutLayer, MultiplicativeDropout, Variant, make_dropout, probing,
                                   register, variants_for)

__all__ = ["VARIANTS", "DropoutLayer", "MultiplicativeDropout", "Variant", "make_dropout", "probing", "register",
           "variants_for"]
