"""Small filters shared by the image code (hint propagation, saliency, metrics, exemplar output)."""

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


def _window_bounds(size: int, radius: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """First and one-past-last index of each position's ``radius`` window, clipped to ``0..size``."""
    index = torch.arange(size, device=device)
    return (index - radius).clamp(min=0), (index + radius + 1).clamp(max=size)


def _box_sum(image: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Sum over each position's clipped ``radius`` window along ``dim``, as a difference of running sums."""
    start, stop = _window_bounds(image.shape[dim], radius, image.device)
    shape = list(image.shape)
    shape[dim] = 1
    running = torch.cat([image.new_zeros(shape), image.cumsum(dim)], dim)  # running[i] = sum of the first i
    return running.index_select(dim, stop) - running.index_select(dim, start)


def box_mean(image: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean of each ``(2 radius + 1)``-square window of a ``(B, C, H, W)`` image, over the pixels inside the image.

    Summed-area style: running sums along rows and columns, so the cost does not grow with the radius (a stride-1
    ``avg_pool2d`` of the same windows, forward and backward, is about 8x slower at radius 8). Computed in fp32,
    whose running sums stay exact enough where bf16's would not, and returned in the input's dtype.
    """
    height, width = image.shape[-2:]
    sums = _box_sum(_box_sum(image.float(), radius, -2), radius, -1)
    row_start, row_stop = _window_bounds(height, radius, image.device)
    column_start, column_stop = _window_bounds(width, radius, image.device)
    counts = (row_stop - row_start)[:, None] * (column_stop - column_start)[None, :]
    return (sums / counts).to(image.dtype)


def guided_filter(source: torch.Tensor, guide: torch.Tensor, radius: int, epsilon: float) -> torch.Tensor:
    """The guided filter of He, Sun & Tang (2013, Alg. 1) with a one-channel guide: ``source`` ``(B, C, H, W)``
    smoothed where ``guide`` ``(B, 1, H, W)`` is flat and kept where it has edges.

    In each window the output is a linear function of the guide fitted to the source (Eq. 1-6); ``epsilon``
    (in the guide's units squared) is the guide variance below which a window counts as flat.
    """
    if radius < 1:
        raise ValueError(f"radius must be a positive number of pixels, got {radius}")
    guide_mean, source_mean = box_mean(guide, radius), box_mean(source, radius)
    guide_variance = box_mean(guide * guide, radius) - guide_mean**2
    covariance = box_mean(guide * source, radius) - guide_mean * source_mean
    slope = covariance / (guide_variance + epsilon)  # a_k of Eq. 5
    offset = source_mean - slope * guide_mean  # b_k of Eq. 6
    return box_mean(slope, radius) * guide + box_mean(offset, radius)  # Eq. 8, the windows' fits averaged


def lightness_guided_filter(ab: torch.Tensor, lightness: torch.Tensor, radius: int, epsilon: float) -> torch.Tensor:
    """``ab`` ``(B, 2, H, W)`` through :func:`guided_filter` with the model lightness ``(B, 1, H, W)`` in [-1, 1]
    (rescaled to [0, 1]) as the guide, so colour is flat within regions and changes at lightness edges; radius 0
    returns ``ab`` as it is (the filter is off)."""
    return guided_filter(ab, (lightness + 1) / 2, radius, epsilon) if radius else ab
