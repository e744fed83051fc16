"""The harness: owns data, initial weights, batch order and hyperparameters; the twins own only the math."""
