"""The Uncertainty page's regression part: MC-dropout bands on a 1-D regression with a gap in its data."""
