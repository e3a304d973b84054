"""Saliency maps from lightness, for losses that weight salient regions more.

The salient loss of Jiang et al. ("Stacked multi-scale attention network for image colorization", Sec. 2.3,
Eq. 6) weights the ab error by the foreground map of a saliency network, PFANet, whose weights cannot
be shipped here; a :data:`SaliencyFn` stands in for it.

The default is the spectral residual method of Hou & Zhang, "Saliency detection: a spectral residual approach"
(CVPR 2007): the log amplitude spectrum of natural images is locally smooth, so what a local average of it does
not explain (the spectral residual), transformed back with the original phase, marks the parts of the image
that stand out. It needs no weights, runs batched in torch and is cheap next to a colorization network.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .filters import gaussian_kernel

SaliencyFn = Callable[[torch.Tensor], torch.Tensor]
"""Model lightness ``(B, 1, H, W)`` in [-1, 1] -> saliency ``(B, 1, H, W)`` in [0, 1] (1 = salient)."""

SPECTRAL_RESIDUAL_SIDE = 64
"""Side the image is reduced to before the Fourier transform (Hou & Zhang: 64 pixels)."""

SPECTRAL_RESIDUAL_SIGMA = 2.5
"""Sigma, in pixels of the reduced image, of the Gaussian that smooths the map (Hou & Zhang's published code)."""


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, C, H, W)`` with a ``3 sigma`` radius, replicating the borders."""
    kernel = gaussian_kernel(sigma, dtype=image.dtype, device=image.device)
    radius = kernel.numel() // 2
    channels = image.shape[1]
    padded = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def normalize_per_image(maps: torch.Tensor) -> torch.Tensor:
    """Stretch each map of ``(B, 1, H, W)`` to [0, 1]; a constant map becomes 0."""
    low = maps.amin(dim=(-2, -1), keepdim=True)
    high = maps.amax(dim=(-2, -1), keepdim=True)
    return (maps - low) / (high - low).clamp_min(torch.finfo(maps.dtype).tiny)


def spectral_residual_saliency(
    lightness: torch.Tensor, side: int = SPECTRAL_RESIDUAL_SIDE, sigma: float = SPECTRAL_RESIDUAL_SIGMA
) -> torch.Tensor:
    """Spectral residual saliency (Hou & Zhang 2007) of model lightness ``(B, 1, H, W)`` in [-1, 1].

    The image is reduced so that its longer side is ``side`` pixels; with the Fourier transform
    ``A(f) = log |F(I)|`` and ``P(f) = angle F(I)``, the spectral residual is ``R(f) = A(f) - h_3 * A(f)``
    (``h_3`` a 3x3 mean filter) and the saliency ``S = g * |F^-1[exp(R(f) + i P(f))]|^2`` (``g`` a Gaussian).
    ``S`` is stretched to [0, 1] per image and resized back to ``H x W``.
    """
    height, width = lightness.shape[-2:]
    scale = side / max(height, width)
    reduced_size = (max(1, round(height * scale)), max(1, round(width * scale)))
    intensity = (lightness.float() + 1) / 2  # [0, 1], as Hou & Zhang's grey images
    reduced = F.interpolate(intensity, size=reduced_size, mode="bilinear", antialias=True, align_corners=False)
    spectrum = torch.fft.fft2(reduced)
    log_amplitude = torch.log(spectrum.abs().clamp_min(1e-8))
    local_mean = F.avg_pool2d(F.pad(log_amplitude, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    residual = torch.polar(torch.exp(log_amplitude - local_mean), spectrum.angle())
    saliency = gaussian_blur(torch.fft.ifft2(residual).abs() ** 2, sigma)
    saliency = F.interpolate(normalize_per_image(saliency), size=(height, width), mode="bilinear", align_corners=False)
    return saliency.clamp(0, 1).to(lightness.dtype)
