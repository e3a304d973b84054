"""Model cost measurements shared by the benchmarks and the tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode


def inference_call(model: nn.Module) -> Callable[..., Any]:
    """What colours an image: the model's ``generate`` for a family that samples (drawing samples is its own
    method, as in transformers), else the model's forward."""
    return getattr(model, "generate", model)


def count_macs(model: Callable[..., Any], **inputs: torch.Tensor) -> float:
    """Multiply-accumulates of one call of ``model`` (a module, or :func:`inference_call`'s method):
    ``FlopCounterMode`` FLOPs / 2, the papers' "GFLOPs".

    Attention runs on the math backend while counting so that its two matrix products are counted too.
    """
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        model(**inputs)
    return counter.get_total_flops() / 2


def count_parameters(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(parameter.numel() for parameter in model.parameters())
