"""Dropout variants behind one interface; importing this package registers them all."""

from explorer.dropout import bernoulli  # noqa: F401  (registers its variants)
from explorer.dropout import gaussian  # noqa: F401  (registers its variant)
from explorer.dropout import alpha  # noqa: F401  (registers its variant)
from explorer.dropout import spatial  # noqa: F401  (registers its variant)
from explorer.dropout.base import VARIANTS, DropoutLayer, Variant, make_dropout, probing, register, variants_for

__all__ = ["VARIANTS", "DropoutLayer", "Variant", "make_dropout", "probing", "register", "variants_for"]
