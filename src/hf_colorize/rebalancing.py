"""Colour class rebalancing of an ab regression loss, after Zhang, Isola & Efros 2016, "Colorful image
colorization" (Sec. 2.1, Eqs. 3-4).

A loss averaged over pixels is dominated by the common, low-saturation colours (grey walls, sky, skin), so a
regressor learns to predict washed-out, sepia colours. Zhang et al. weigh each pixel by the rarity of its true
colour: the ab plane is cut into 10x10 bins, ``p`` is the Gaussian-smoothed (sigma = 5) distribution of true ab
over the in-gamut bins, and a pixel whose colour falls in bin ``q`` weighs ``w_q ∝ ((1 - mix) p_q + mix / Q)^-1``,
normalised to mean 1 (mix = 1/2 in their paper; ``Q`` in-gamut bins). Zhang et al. estimate ``p``
once over ImageNet; here it is estimated from the true colours of each training batch, which needs no pass over
the data and follows whatever dataset a user fine-tunes on.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from .color import rgb_to_lab
from .filters import gaussian_kernel

AB_LIMIT = 110.0
"""ab values (CIE units) are binned over [-AB_LIMIT, AB_LIMIT]."""

BIN_SIZE = 10.0
"""Side of an ab bin in CIE units (Zhang et al.'s grid)."""

BINS_PER_AXIS = int(2 * AB_LIMIT / BIN_SIZE)

SMOOTHING_SIGMA = 5.0
"""Standard deviation, in CIE ab units, of the Gaussian that smooths the colour distribution (Zhang et al.)."""


def ab_bin_index(ab: torch.Tensor) -> torch.Tensor:
    """Bin number (``a_bin * BINS_PER_AXIS + b_bin``) of each pixel of ``ab`` ``(B, 2, H, W)`` in CIE units."""
    bins = ((ab + AB_LIMIT) / BIN_SIZE).floor().long().clamp(0, BINS_PER_AXIS - 1)
    return bins[:, 0] * BINS_PER_AXIS + bins[:, 1]


@functools.cache
def in_gamut_bins(samples_per_axis: int = 33) -> torch.Tensor:
    """Which ab bins some sRGB colour falls in, sampling the RGB cube on a ``samples_per_axis`` grid: a
    ``(BINS_PER_AXIS, BINS_PER_AXIS)`` bool grid with 264 bins set (Zhang et al. count Q = 313 on theirs)."""
    levels = torch.linspace(0, 1, samples_per_axis)
    rgb = torch.stack(torch.meshgrid(levels, levels, levels, indexing="ij")).reshape(1, 3, -1, 1)
    index = ab_bin_index(rgb_to_lab(rgb)[:, 1:]).flatten()
    counts = torch.bincount(index, minlength=BINS_PER_AXIS**2)
    return (counts > 0).reshape(BINS_PER_AXIS, BINS_PER_AXIS)


def smoothed_color_distribution(index: torch.Tensor) -> torch.Tensor:
    """The distribution of the bin numbers ``index`` over the in-gamut bins, smoothed by a Gaussian of
    ``SMOOTHING_SIGMA`` ab units; a ``(BINS_PER_AXIS, BINS_PER_AXIS)`` grid summing to 1."""
    counts = torch.bincount(index.flatten(), minlength=BINS_PER_AXIS**2).to(torch.float32)
    kernel = gaussian_kernel(SMOOTHING_SIGMA / BIN_SIZE, radius=1, device=index.device)
    grid = counts.reshape(1, 1, BINS_PER_AXIS, BINS_PER_AXIS)
    grid = F.conv2d(grid, kernel.view(1, 1, -1, 1), padding=(kernel.numel() // 2, 0))
    grid = F.conv2d(grid, kernel.view(1, 1, 1, -1), padding=(0, kernel.numel() // 2))[0, 0]
    grid = grid * in_gamut_bins().to(grid.device)
    return grid / grid.sum()


def rebalancing_weights(ab: torch.Tensor, uniform_mix: float = 0.5) -> torch.Tensor:
    """Per-pixel weights ``(B, 1, H, W)`` for the true colours ``ab`` ``(B, 2, H, W)`` (CIE units), Eq. 4 of
    Zhang et al. with the distribution of this batch, normalised to mean 1 over the batch's pixels."""
    if not 0 < uniform_mix <= 1:
        raise ValueError(f"uniform_mix must be in (0, 1], got {uniform_mix}")
    index = ab_bin_index(ab.detach().float())
    distribution = smoothed_color_distribution(index)
    num_bins = in_gamut_bins().sum()
    weights = 1 / ((1 - uniform_mix) * distribution + uniform_mix / num_bins)
    pixel_weights = weights.flatten()[index]
    return (pixel_weights / pixel_weights.mean()).unsqueeze(1).to(ab.dtype)
