"""The Sweeps page's backend: error vs drop rate and vs data size, many models batched."""
