"""The Uncertainty page's backend: MC dropout on a regression, on 2-D maps and on digits."""

# Shared by the regression and maps parts' live states.
LOOK_SEED = 10_007  # added to a run's seed: the masks of every MC look, a stream apart from training's
