"""The Inside page's backend: looking inside a network trained on MNIST digits."""
