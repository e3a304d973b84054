"""CIE Lab conversions in torch, shared by every family.

Conventions (``shared/API.md``): CIE Lab with the D65 white point and the sRGB transfer curve. Models see
lightness scaled to [-1, 1] (``L / 50 - 1``) and predict ab scaled by ``1 / 110``.

All functions take channel-first tensors of shape ``(..., 3, H, W)`` (or ``(..., 1, H, W)`` / ``(..., 2, H, W)``
for the single parts), work batched on any device and are differentiable.
"""

from __future__ import annotations

import functools

import torch

# sRGB primaries to CIE XYZ under D65 (IEC 61966-2-1 as used by scikit-image).
_RGB_TO_XYZ = torch.tensor(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=torch.float64,
)
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_D65_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)

# CIE 1976 constants: f(t) = t^(1/3) above (6/29)^3, a line below it.
CIE_DELTA = 6.0 / 29.0
"""Where the CIE curve f(t) turns from a cube root (above delta^3) into a line."""
_EPSILON = CIE_DELTA**3
_LINEAR_SLOPE = 1.0 / (3.0 * CIE_DELTA**2)

L_SCALE = 50.0
AB_SCALE = 110.0

SRGB8_TABLE_STEPS = 1 << 14
"""Linear-RGB steps of the table :func:`srgb8_table` (read by :mod:`hf_colorize.color_kernels`): a step moves the
curve by at most 12.92 / 2^14 of full scale (its steepest slope), 0.2 of an 8-bit level, so the table's rounding
differs from rounding the exact curve by at most one level."""


def _apply_matrix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Multiply the channel axis (dim -3) of ``image`` by a 3x3 ``matrix``."""
    matrix = matrix.to(device=image.device, dtype=image.dtype)
    return torch.einsum("ij,...jhw->...ihw", matrix, image)


def _white(image: torch.Tensor) -> torch.Tensor:
    return _D65_WHITE.to(device=image.device, dtype=image.dtype).view(3, 1, 1)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve (values in [0, 1])."""
    curved = ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4
    return torch.where(rgb > 0.04045, curved, rgb / 12.92)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB transfer curve (values in [0, 1])."""
    curved = 1.055 * linear.clamp(min=0.0031308) ** (1.0 / 2.4) - 0.055
    return torch.where(linear > 0.0031308, curved, linear * 12.92)


@functools.cache
def srgb8_luminance_table() -> torch.Tensor:
    """``(3, 256)``: the CIE Y (relative to white) that each 8-bit value of R, G and B adds, as :func:`rgb_to_lab`
    computes it in float32 (read by :mod:`hf_colorize.color_kernels`)."""
    linear = srgb_to_linear(torch.arange(256, dtype=torch.float32) / 255.0)
    return (_RGB_TO_XYZ[1].float() / _D65_WHITE[1].float()).view(3, 1) * linear


def cie_f(xyz: torch.Tensor) -> torch.Tensor:
    """The CIE 1976 curve f of XYZ relative to the white point: the cube root above delta^3, a line below."""
    return torch.where(xyz > _EPSILON, xyz.clamp(min=_EPSILON) ** (1.0 / 3.0), xyz * _LINEAR_SLOPE + 4.0 / 29.0)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """Convert sRGB in [0, 1], shape ``(..., 3, H, W)``, to CIE Lab (L in [0, 100], ab roughly [-110, 110])."""
    if rgb.shape[-3] != 3:
        raise ValueError(f"rgb_to_lab expects 3 channels at dim -3, got shape {tuple(rgb.shape)}")
    xyz = _apply_matrix(_RGB_TO_XYZ, srgb_to_linear(rgb)) / _white(rgb)
    fx, fy, fz = cie_f(xyz).unbind(dim=-3)
    lightness = 116.0 * fy - 16.0
    a = 500.0 * (fx - fy)
    b = 200.0 * (fy - fz)
    return torch.stack([lightness, a, b], dim=-3)


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """Convert CIE Lab, shape ``(..., 3, H, W)``, to sRGB in [0, 1] (clipped unless ``clip=False``)."""
    if lab.shape[-3] != 3:
        raise ValueError(f"lab_to_rgb expects 3 channels at dim -3, got shape {tuple(lab.shape)}")
    lightness, a, b = lab.unbind(dim=-3)
    fy = (lightness + 16.0) / 116.0
    f = torch.stack([fy + a / 500.0, fy, fy - b / 200.0], dim=-3)
    xyz = torch.where(f > CIE_DELTA, f**3, (f - 4.0 / 29.0) / _LINEAR_SLOPE) * _white(lab)
    rgb = linear_to_srgb(_apply_matrix(_XYZ_TO_RGB, xyz))  # out of gamut stays outside [0, 1] until clipped
    return rgb.clamp(0.0, 1.0) if clip else rgb


def _fits_gamut(rgb: torch.Tensor, tolerance: float = 0.0) -> torch.Tensor:
    """Whether each pixel's three channels lie in [0, 1] (channel axis -3 kept, of size 1)."""
    return ((rgb >= -tolerance) & (rgb <= 1.0 + tolerance)).all(dim=-3, keepdim=True)


def lab_to_rgb_in_gamut(lightness: torch.Tensor, ab: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """Lab to sRGB, shrinking the chroma of out-of-gamut pixels instead of clipping their channels.

    Clipping an out-of-gamut colour changes its lightness; scaling its ab towards grey (in ``steps`` even
    steps, keeping the largest scale that fits) keeps L, so the output's lightness is the input's. Only the
    pixels outside the gamut are converted again, so a large image costs little more than one conversion.
    """
    rgb = lab_to_rgb(torch.cat([lightness, ab], dim=-3), clip=False)
    outside = ~_fits_gamut(rgb).squeeze(-3)
    if not bool(outside.any()):
        return rgb.clamp(0.0, 1.0)
    # The pixels outside the gamut as a (3, 1, n) strip: L, ab and their current RGB.
    strip_lightness = lightness.movedim(-3, -1)[outside].T.unsqueeze(1)
    strip_ab = ab.movedim(-3, -1)[outside].T.unsqueeze(1)
    strip_rgb = rgb.movedim(-3, -1)[outside].T.unsqueeze(1)
    waiting = torch.arange(strip_rgb.shape[-1], device=ab.device)  # the strip's pixels no scale has fitted yet
    for scale in torch.linspace(1.0, 0.0, steps + 1, device=ab.device, dtype=ab.dtype)[1:]:
        candidate = lab_to_rgb(torch.cat([strip_lightness, strip_ab * scale], dim=-3), clip=False)
        fits = _fits_gamut(candidate, tolerance=1e-6)[0, 0]
        strip_rgb[..., waiting[fits]] = candidate[..., fits]
        waiting, strip_lightness, strip_ab = waiting[~fits], strip_lightness[..., ~fits], strip_ab[..., ~fits]
        if not len(waiting):
            break
    channels_last = rgb.movedim(-3, -1).clone()
    channels_last[outside] = strip_rgb.squeeze(1).T
    return channels_last.movedim(-1, -3).clamp(0.0, 1.0)


@functools.cache
def xyz_to_srgb8_steps() -> torch.Tensor:
    """``(3, 3)`` float64: CIE XYZ relative to the white point to linear RGB in steps of :func:`srgb8_table`."""
    return SRGB8_TABLE_STEPS * _XYZ_TO_RGB * _D65_WHITE


@functools.cache
def srgb8_table() -> torch.Tensor:
    """``(SRGB8_TABLE_STEPS + 1,)`` uint8: the 8-bit sRGB value of each step of linear RGB in [0, 1]."""
    linear = torch.linspace(0.0, 1.0, SRGB8_TABLE_STEPS + 1, dtype=torch.float64)
    return linear_to_srgb(linear).mul(255.0).round().to(torch.uint8)


def normalize_lightness(lightness: torch.Tensor) -> torch.Tensor:
    """CIE L in [0, 100] to the model's [-1, 1]."""
    return lightness / L_SCALE - 1.0


def denormalize_lightness(lightness: torch.Tensor) -> torch.Tensor:
    """The model's [-1, 1] lightness back to CIE L in [0, 100]."""
    return (lightness + 1.0) * L_SCALE


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    """CIE ab to the model's scale (``ab / 110``)."""
    return ab / AB_SCALE


def denormalize_ab(ab: torch.Tensor) -> torch.Tensor:
    """The model's ab back to CIE ab."""
    return ab * AB_SCALE
