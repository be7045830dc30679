"""The model zoo (spec section 2.1, the ``theta_model`` API): re-exports only.

Importing this package imports torch; ``theta --help`` never does. Loading and saving a trained
model (``model_const``, ``save_weights``) is ``theta_cli.artifact``'s.
"""

from theta_cli.model.archs import (
    SinusoidalNoiseEmbedding,
    ThetaCNN1D,
    ThetaHybrid,
    ThetaMLP,
    ThetaTransformer,
    default_heads,
)
from theta_cli.model.zoo import MODEL_TYPES, build_from_config, build_theta, count_parameters

__all__ = [
    "MODEL_TYPES",
    "SinusoidalNoiseEmbedding",
    "ThetaCNN1D",
    "ThetaHybrid",
    "ThetaMLP",
    "ThetaTransformer",
    "build_from_config",
    "build_theta",
    "count_parameters",
    "default_heads",
]
