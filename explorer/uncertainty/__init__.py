"""The Uncertainty page's backend: MC dropout on a regression, on 2-D maps and on digits."""
