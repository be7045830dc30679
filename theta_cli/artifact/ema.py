"""An exponential moving average of the weights (``ema_decay`` > 0), torch's ``AveragedModel``.

The average is what quick_val measures and what export and denoise use; training updates the
raw weights as usual and the average follows after every optimizer step. It is saved with each
checkpoint, so a resume continues it exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn
    from torch.optim.swa_utils import AveragedModel


def build(module: nn.Module, decay: float) -> AveragedModel | None:
    """The EMA of ``module``'s parameters and buffers; None when ``decay`` is 0 (off)."""
    if decay <= 0:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(module, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def weights(ema_state: dict) -> dict:
    """The averaged model's own state dict, from an ``AveragedModel.state_dict()``."""
    prefix = "module."
    return {k[len(prefix) :]: v for k, v in ema_state.items() if k.startswith(prefix)}
