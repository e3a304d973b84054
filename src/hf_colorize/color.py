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
_DELTA = 6.0 / 29.0
_EPSILON = _DELTA**3
_LINEAR_SLOPE = 1.0 / (3.0 * _DELTA**2)

L_SCALE = 50.0
AB_SCALE = 110.0

SRGB8_TABLE_STEPS = 1 << 14
"""Linear-RGB steps of the table :class:`LabToSrgb8` reads: a step moves the curve by at most 12.92 / 2^14 of
full scale (its steepest slope), 0.2 of an 8-bit level, so the table's rounding differs from rounding the exact curve
by at most one level."""


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
def _srgb8_luminance_table() -> torch.Tensor:
    """``(3, 256)``: the CIE Y (relative to white) that each 8-bit value of R, G and B adds, as :func:`rgb_to_lab`
    computes it in float32."""
    linear = srgb_to_linear(torch.arange(256, dtype=torch.float32) / 255.0)
    return (_RGB_TO_XYZ[1].float() / _D65_WHITE[1].float()).view(3, 1) * linear


@functools.cache
def _grey8_lightness_table() -> torch.Tensor:
    """``(256,)``: the CIE L of each 8-bit grey, as :func:`rgb_to_lab` computes it in float32."""
    return rgb_to_lab((torch.arange(256, dtype=torch.float32) / 255.0).expand(3, 1, 256))[0, 0]


def srgb8_to_lightness(srgb8: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """CIE L in [0, 100] of 8-bit sRGB pixels, ``(..., C)`` channels last with C = 3 (RGB) or 1 (grey), as
    ``(...)`` (written into ``out`` when given, a contiguous tensor of that many float32 values).

    The same L as :func:`rgb_to_lab` on the pixels divided by 255, computed for L alone: tables give a grey's L, or
    each channel's share of Y; then one cube root, its branch below ``eps`` taken without a branch:
    ``L = 116 cbrt(max(Y, eps)) + kappa min(Y, eps) - 24`` (both terms meet at eps, where L is 8).
    """
    if srgb8.dtype != torch.uint8 or srgb8.ndim == 0 or srgb8.shape[-1] not in (1, 3):
        raise ValueError(f"srgb8_to_lightness expects uint8 (..., 1) or (..., 3), got {srgb8.dtype} {srgb8.shape}")
    pixels = srgb8.reshape(-1, srgb8.shape[-1])
    lightness = torch.empty(len(pixels), device=srgb8.device) if out is None else out.view(-1)
    index = torch.empty(len(pixels), dtype=torch.int32, device=srgb8.device)
    if srgb8.shape[-1] == 1:
        table = _grey8_lightness_table().to(srgb8.device)
        return torch.index_select(table, 0, index.copy_(pixels[:, 0]), out=lightness).view(srgb8.shape[:-1])
    table = _srgb8_luminance_table().to(srgb8.device)
    share = torch.empty_like(lightness)
    for channel in range(3):
        torch.index_select(table[channel], 0, index.copy_(pixels[:, channel]), out=share if channel else lightness)
        if channel:
            lightness.add_(share)
    below = torch.clamp(lightness, max=_EPSILON, out=share)
    cube_root = lightness.clamp_(min=_EPSILON).log_().mul_(1.0 / 3.0).exp_()  # a few times faster than pow_(1 / 3)
    cube_root.mul_(116.0).add_(below, alpha=116.0 * _LINEAR_SLOPE).sub_(24.0)
    return lightness.view(srgb8.shape[:-1])


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """Convert sRGB in [0, 1], shape ``(..., 3, H, W)``, to CIE Lab (L in [0, 100], ab roughly [-110, 110])."""
    if rgb.shape[-3] != 3:
        raise ValueError(f"rgb_to_lab expects 3 channels at dim -3, got shape {tuple(rgb.shape)}")
    xyz = _apply_matrix(_RGB_TO_XYZ, srgb_to_linear(rgb)) / _white(rgb)
    f = torch.where(xyz > _EPSILON, xyz.clamp(min=_EPSILON) ** (1.0 / 3.0), xyz * _LINEAR_SLOPE + 4.0 / 29.0)
    fx, fy, fz = f.unbind(dim=-3)
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
    xyz = torch.where(f > _DELTA, f**3, (f - 4.0 / 29.0) / _LINEAR_SLOPE) * _white(lab)
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


def _channel_range(linear: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The smallest and largest of the three channels (dim -2) of ``(..., 3, n)``, pixel by pixel (elementwise
    minima and maxima: a reduction over a dimension of 3 is several times slower)."""
    red, green, blue = linear.unbind(dim=-2)
    low, high = torch.minimum(red, green), torch.maximum(red, green)
    return torch.minimum(low, blue, out=low), torch.maximum(high, blue, out=high)


class LabToSrgb8:
    """:func:`lab_to_rgb_in_gamut` for bands of up to ``pixels`` pixels, as 8-bit sRGB within one level of it,
    reusing its buffers from band to band (so a large image does not allocate and fault in new memory per band).

    It works in place on float32 planes, in linear RGB: XYZ is f^3 (with the CIE curve's linear branch, as two
    clamps, only in bands that reach below it), linear RGB is nine multiply-adds (the white point and the table's
    scale and rounding offset folded into the matrix), and a table of :data:`SRGB8_TABLE_STEPS` steps encodes the
    sRGB curve (within one level of rounding the exact curve). The gamut test is made on linear RGB, which the sRGB
    curve maps into [0, 1] exactly when it lies in [0, 1]; the few pixels outside try
    :func:`lab_to_rgb_in_gamut`'s chroma scales, a few at a time, and keep the largest that fits, as it does.
    """

    def __init__(self, pixels: int, device: torch.device | str = "cpu", steps: int = 10):
        self.f = torch.empty(3 * pixels, device=device)
        self.xyz = torch.empty(3 * pixels, device=device)
        self.linear = torch.empty(3 * pixels, device=device)
        self.srgb8 = torch.empty(3 * pixels, dtype=torch.uint8, device=device)
        self.table = _srgb8_table().to(device)
        self.fy_offset = torch.tensor(16.0 / 116.0, device=device)
        # in table steps + 1/2 (truncating to an integer then rounds): matrix @ XYZ / white + 1/2
        matrix = SRGB8_TABLE_STEPS * _XYZ_TO_RGB * _D65_WHITE
        self.matrix = matrix.float().to(device)
        # with the linear branch, XYZ / white = max(f, delta)^3 + min(f, delta) / slope - delta / slope
        self.offsets = {False: torch.full((3,), 0.5), True: 0.5 - matrix.sum(dim=1).float() * _DELTA / _LINEAR_SLOPE}
        self.scales = torch.linspace(1.0, 0.0, steps + 1, device=device)[1:]
        # lab_to_rgb_in_gamut's tolerance on a scaled colour's sRGB (1e-6), in linear RGB in table steps
        tolerance = SRGB8_TABLE_STEPS * torch.tensor([1e-6 / 12.92, ((1.055 + 1e-6) / 1.055) ** 2.4 - 1.0])
        self.limits = (0.5 - tolerance[0].item(), SRGB8_TABLE_STEPS + 0.5 + tolerance[1].item())

    def __call__(self, lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """8-bit sRGB planes ``(3, H, W)`` of ``(1, H, W)`` L and ``(2, H, W)`` ab; a view of this converter's
        buffer, valid until its next call."""
        height, width = lightness.shape[-2:]
        count = height * width
        f, xyz, linear, srgb8 = (
            buffer[: 3 * count].view(3, count) for buffer in (self.f, self.xyz, self.linear, self.srgb8)
        )
        self._to_linear(lightness.reshape(-1), ab.reshape(2, -1), f, xyz, linear)
        low, high = torch.aminmax(linear)
        if low < 0.5 or high > SRGB8_TABLE_STEPS + 0.5:
            low, high = _channel_range(linear)
            outside = ((low < 0.5) | (high > SRGB8_TABLE_STEPS + 0.5)).nonzero().squeeze(1)
            strip = self._reduce_chroma(
                lightness.reshape(-1).index_select(0, outside),
                ab.reshape(2, -1).index_select(1, outside),
                linear.index_select(1, outside),
            )
            linear.index_copy_(1, outside, strip).clamp_(0.5, SRGB8_TABLE_STEPS + 0.5)
        index = self.f[: 3 * count].view(torch.int32).copy_(linear.view(-1))  # f is spent: its memory holds the index
        torch.index_select(self.table, 0, index, out=srgb8.view(-1))
        return srgb8.view(3, height, width)

    def _to_linear(
        self, lightness: torch.Tensor, ab: torch.Tensor, f: torch.Tensor, xyz: torch.Tensor, linear: torch.Tensor
    ) -> torch.Tensor:
        """Linear RGB in table steps + 1/2, ``(..., 3, n)`` into ``linear``, of L ``(n,)`` and ab ``(..., 2, n)``
        (``f`` and ``xyz`` are work buffers of ``linear``'s shape; ``f`` is overwritten)."""
        fy = torch.add(self.fy_offset, lightness.expand_as(f[..., 1, :]), alpha=1.0 / 116.0, out=f[..., 1, :])
        torch.add(fy, ab[..., 0, :], alpha=1.0 / 500.0, out=f[..., 0, :])
        torch.add(fy, ab[..., 1, :], alpha=-1.0 / 200.0, out=f[..., 2, :])
        branch = bool(f.amin() <= _DELTA)
        if branch:
            torch.clamp(f, min=_DELTA, out=xyz).pow_(3).add_(f.clamp_(max=_DELTA), alpha=1.0 / _LINEAR_SLOPE)
        else:
            torch.pow(f, 3, out=xyz)
        offsets = self.offsets[branch].tolist()
        for channel, (offset, row) in enumerate(zip(offsets, self.matrix.tolist())):
            torch.mul(xyz[..., 0, :], row[0], out=linear[..., channel, :]).add_(offset)
            linear[..., channel, :].add_(xyz[..., 1, :], alpha=row[1]).add_(xyz[..., 2, :], alpha=row[2])
        return linear

    def _reduce_chroma(self, lightness: torch.Tensor, ab: torch.Tensor, unscaled: torch.Tensor) -> torch.Tensor:
        """Linear RGB ``(3, n)`` of out-of-gamut pixels (L ``(n,)``, ab ``(2, n)``, their ``unscaled`` linear RGB)
        with their ab scaled by the largest of ``scales`` that fits (within :func:`lab_to_rgb_in_gamut`'s
        tolerance); unscaled where none does. The scales are tried a few at a time, largest first, each group on the
        pixels no earlier one has fitted."""
        result = unscaled.clone()
        waiting = torch.arange(ab.shape[-1], device=ab.device)
        for scales in self.scales.split(3):
            count = len(scales)
            scaled = scales.view(-1, 1, 1) * ab.index_select(1, waiting)  # (scales, 2, pixels)
            f, xyz, linear = (torch.empty(count, 3, len(waiting), device=ab.device) for _ in range(3))
            self._to_linear(lightness.index_select(0, waiting), scaled, f, xyz, linear)
            low, high = _channel_range(linear)
            fits = (low >= self.limits[0]) & (high <= self.limits[1])  # (scales, pixels)
            # the first (largest) scale that fits, counted from the group's end: count - first, 0 where none fits
            rank = (fits * torch.arange(count, 0, -1, dtype=torch.uint8, device=ab.device).view(-1, 1)).amax(dim=0)
            found = rank > 0
            first = (count - rank[found].long()).view(1, 1, -1).expand(1, 3, -1)
            result.index_copy_(1, waiting[found], linear[..., found].gather(0, first)[0])
            waiting = waiting[~found]
            if not len(waiting):
                break
        return result


@functools.cache
def _srgb8_table() -> torch.Tensor:
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
