"""Small filter kernels shared by the image code (hint propagation, saliency, metrics)."""

from __future__ import annotations

import math

import torch


def gaussian_kernel(
    sigma: float, radius: int | None = None, dtype: torch.dtype = torch.float32, device: torch.device | None = None
) -> torch.Tensor:
    """Normalised 1-D Gaussian of standard deviation ``sigma`` on the offsets ``-radius..radius``.

    ``radius`` defaults to ``ceil(3 sigma)``, which keeps all but 0.3 % of the Gaussian's mass.
    """
    radius = math.ceil(3 * sigma) if radius is None else radius
    offsets = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()
