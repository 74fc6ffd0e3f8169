"""The core every page builds on: data, models, the trainer, experiments, MC inference, live runs, figure helpers."""
