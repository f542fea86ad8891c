"""Training: run folders, the predictor cache, checkpoints, and the GAN run."""
