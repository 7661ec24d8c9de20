"""Models lead data, data empowers models: demands, splits, model runs, feedback, detector, trial training, diffs."""
