"""Edge-aware spreading of sparse colour hints over an image, fading to grey away from them.

Every pixel gets a weighted average of the hint colours, each hint weighted by a Gaussian of its *geodesic* distance
to the pixel: the path length in which every step costs one pixel plus ``spatial / range`` times the lightness it
crosses (beyond a small threshold that lets colour through texture). This is the domain transform of Gastal &
Oliveira 2011 (Eq. 11: ``ct'(x) = 1 + sigma_s / sigma_r |I'(x)|``), filtered by exact 1-D Gaussians of the
transformed distance along rows, then columns, iterated twice with their Eq. 14 sigmas; the hint colours and the
hint mask are filtered alike (normalised convolution). Because the distance accumulates along the path, colour stops
at lightness edges even where the region behind the edge has the hint's own lightness, and the Gaussians never cut
off, so there is no straight-edged region.

The average is divided by ``weight + fade`` instead of ``weight`` alone, where ``weight`` is the summed
hint weight (1 on an isolated hint pixel): near hints the colour is at nearly full strength, and it fades
smoothly to grey where no hint reaches, instead of one hint painting the whole image (the fault of the earlier
bilateral-grid version, whose normalisation gave every reached pixel the hint's full colour and whose truncated
kernel stopped it along grid lines).

The filter runs at a working resolution of about ``WORKING_SIDE`` pixels (hints are summed into it) and the
result is upsampled guided by the full-resolution lightness (Kopf et al. 2007), so its cost does not grow with
the cube of the image side: about 10 ms at 224 on one CPU thread.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

WORKING_SIDE = 56
"""The filter runs on the input pooled by an integer factor to about this many pixels on the shorter side."""

UPSAMPLING_RANGE_SIGMA = 0.1
"""Lightness sigma (normalised units, 0.1 = 5 L*) of the joint bilateral upsampling back to full resolution."""

FADE_WEIGHT = 0.1
"""Summed hint weight (1 = one hint pixel) at which the propagated colour has faded to half its strength."""

EDGE_THRESHOLD = 0.1
"""Lightness steps between neighbouring working pixels up to this (normalised units, 0.1 = 5 L*) cost no extra
distance, so texture does not stop the colour; only the part of a step above it counts as an edge."""

ITERATIONS = 2
"""Row-then-column passes; the domain transform's Eq. 14 splits the Gaussian's variance among them."""


def _geodesic_rows(values: torch.Tensor, lightness: torch.Tensor, sigma: float, edge_cost: float) -> torch.Tensor:
    """Filter ``values`` ``(B, H, W, C)`` along each row by a normalised Gaussian of the row's geodesic distance.

    ``lightness`` is ``(B, H, W)``; a step between neighbours costs ``1 + edge_cost * max(0, |lightness
    difference| - EDGE_THRESHOLD)``.
    """
    steps = 1 + edge_cost * ((lightness[..., 1:] - lightness[..., :-1]).abs() - EDGE_THRESHOLD).clamp_min(0)
    position = torch.cat([torch.zeros_like(lightness[..., :1]), steps.cumsum(-1)], dim=-1)
    distance = (position.unsqueeze(-1) - position.unsqueeze(-2)) / sigma  # (B, H, W, W)
    # Beyond 11 sigmas the weight is below 1e-26: clamping there keeps exp out of its slow denormal range.
    kernel = torch.exp((-0.5 * distance.square()).clamp_min(-60.0)) / (sigma * math.sqrt(2 * math.pi))
    return kernel @ values


def _pass_sigmas(sigma: float, iterations: int) -> list[float]:
    """Eq. 14 of Gastal & Oliveira 2011: halving sigmas whose variances sum to ``sigma**2``."""
    return [sigma * math.sqrt(3) * 2 ** (iterations - i - 1) / math.sqrt(4**iterations - 1) for i in range(iterations)]


def _tent_weights(factor: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """``(9, H, W)`` bilinear weights of the 3x3 coarse cells around each full-resolution pixel's own cell."""
    centre = (torch.arange(factor, device=device) + 0.5) / factor - 0.5  # a pixel's offset from its cell centre
    offsets = torch.tensor([-1.0, 0.0, 1.0], device=device)
    tent = (1 - (offsets[:, None] - centre[None, :]).abs()).clamp_min(0)  # (3 neighbours, factor)
    rows = tent.repeat(1, math.ceil(height / factor))[:, :height]
    columns = tent.repeat(1, math.ceil(width / factor))[:, :width]
    return (rows[:, None, :, None] * columns[None, :, None, :]).reshape(9, height, width)


def _guided_upsample(values: torch.Tensor, coarse_lightness: torch.Tensor, lightness: torch.Tensor) -> torch.Tensor:
    """Joint bilateral upsampling (Kopf et al. 2007) of ``values`` to ``lightness``'s size: each pixel mixes the
    3x3 coarse cells around it by a bilinear tent times a Gaussian of its lightness minus the cell's."""
    batch, channels = values.shape[:2]
    (height, width), (coarse_height, coarse_width) = lightness.shape[-2:], values.shape[-2:]
    factor = math.ceil(height / coarse_height)
    cells = F.pad(torch.cat([values, coarse_lightness], dim=1), (1, 1, 1, 1), mode="replicate")
    cells = F.unfold(cells, 3).view(batch, (channels + 1) * 9, coarse_height, coarse_width)
    cells = F.interpolate(cells, scale_factor=factor, mode="nearest")[..., :height, :width]
    cells = cells.view(batch, channels + 1, 9, height, width)
    similarity = torch.exp(-0.5 * ((lightness - cells[:, channels]) / UPSAMPLING_RANGE_SIGMA).square()) + 1e-4
    weights = _tent_weights(factor, height, width, values.device) * similarity
    return (cells[:, :channels] * weights.unsqueeze(1)).sum(2) / weights.sum(1, keepdim=True)


@torch.no_grad()
def propagate_hints(
    lightness: torch.Tensor,
    hint_ab: torch.Tensor,
    hint_mask: torch.Tensor,
    spatial_sigma: float = 0.5,
    range_sigma: float = 0.3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spread hint colours over the image along paths that avoid lightness edges, fading with distance.

    Args:
        lightness: ``(B, 1, H, W)`` normalised lightness in [-1, 1].
        hint_ab: ``(B, 2, H, W)`` hint ab (any scale), zero where there is no hint.
        hint_mask: ``(B, 1, H, W)`` 1 at hint pixels, 0 elsewhere.
        spatial_sigma: Gaussian sigma of the geodesic distance, as a fraction of the shorter image side.
        range_sigma: lightness change above the edge threshold (normalised units, 0.3 = 15 L*) that costs as much
            distance as ``spatial_sigma``; smaller values stop colour at fainter edges.

    Returns:
        ``(ab, weight)``: the propagated ab ``(B, 2, H, W)``, which fades to zero far from every hint, and the
        summed Gaussian weight of the hints at each pixel ``(B, 1, H, W)``, a confidence: 0 far from every
        hint, about 1 on a single isolated hint pixel, more where hints crowd.
    """
    if spatial_sigma <= 0 or range_sigma <= 0:
        raise ValueError(f"sigmas must be positive, got spatial {spatial_sigma} and range {range_sigma}")
    height, width = lightness.shape[-2:]
    factor = max(1, min(height, width) // WORKING_SIDE)
    values = torch.cat([hint_ab * hint_mask, hint_mask], dim=1)
    coarse_lightness = lightness
    if factor > 1:  # sum hints into the coarse pixels, so one hint pixel still weighs 1
        values = F.avg_pool2d(values, factor, ceil_mode=True) * factor**2
        coarse_lightness = F.avg_pool2d(lightness, factor, ceil_mode=True)
    sigma = spatial_sigma * min(coarse_lightness.shape[-2:])
    edge_cost = sigma / range_sigma
    rows, columns = coarse_lightness[:, 0], coarse_lightness[:, 0].transpose(1, 2)
    values = values.permute(0, 2, 3, 1)  # (B, H, W, C): the filter is a batched matrix product per row
    for pass_sigma in _pass_sigmas(sigma, ITERATIONS):
        values = _geodesic_rows(values, rows, pass_sigma, edge_cost)
        values = _geodesic_rows(values.transpose(1, 2), columns, pass_sigma, edge_cost).transpose(1, 2)
    # The passes compose to a normalised Gaussian of ``sigma`` on a flat image; rescale so that an isolated hint
    # pixel weighs 1 where it lies (its weight is then a confidence in hint-pixel units).
    values = values.permute(0, 3, 1, 2) * (2 * math.pi * sigma**2)
    if factor > 1:
        values = _guided_upsample(values, coarse_lightness, lightness)
    weight = values[:, 2:].clamp_min(0)
    return values[:, :2] / (weight + FADE_WEIGHT), weight
