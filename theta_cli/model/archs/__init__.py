"""The four theta architectures and their building blocks; the public API is theta_cli.model."""

from theta_cli.model.archs.cnn import ThetaCNN1D
from theta_cli.model.archs.layers import SinusoidalNoiseEmbedding, default_heads
from theta_cli.model.archs.mlp import ThetaMLP
from theta_cli.model.archs.transformer import ThetaHybrid, ThetaTransformer

__all__ = [
    "SinusoidalNoiseEmbedding",
    "ThetaCNN1D",
    "ThetaHybrid",
    "ThetaMLP",
    "ThetaTransformer",
    "default_heads",
]
