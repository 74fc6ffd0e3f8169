"""The Uncertainty page's digits part: MC averaging vs weight scaling on MNIST, and a digit rotated away."""
