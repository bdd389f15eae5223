"""Training: a generic loop with early stopping and best-epoch selection, checkpoints, tasks."""
