"""The Uncertainty page's classification part: MC-dropout maps of a 2-D classifier (mean, entropy, MI)."""
