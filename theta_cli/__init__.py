"""theta: train and evaluate rectified-flow models that denoise GPS trajectories."""

__version__ = "0.1.0"
