"""The full-resolution colour work of a pipeline call as fused per-pixel loops, compiled by numba.

A 12-megapixel photo costs the model the same as a thumbnail: it works at 224x224. What grows with the picture is the
lightness read from the input and the predicted colour joined back with it. Written as a chain of whole-tensor torch
operations, each step reads and writes every pixel, and that traffic cost ten times the model. Here each pixel is
read once and finished in registers: two loops, parallel over rows, compiled by numba (``cache=True`` keeps the
compiled code on disk, so only the first call after installing pays the compilation).

- :func:`srgb8_to_lightness`: 8-bit sRGB (or grey) pixels to CIE L. Tables give each 8-bit channel's share of the
  luminance Y; a table of L against Y, read with linear interpolation, replaces the cube root.
- :func:`lab_to_srgb8`: L at full resolution and ab at a few rows, enlarged bilinearly on the fly, to 8-bit sRGB;
  out-of-gamut colours lose chroma, not lightness (:func:`~hf_colorize.color.lab_to_rgb_in_gamut`'s scales), and
  the sRGB curve is a table of :data:`~hf_colorize.color.SRGB8_TABLE_STEPS` steps of linear RGB.

Both follow the formulas of :mod:`hf_colorize.color`, the colour conversion in float64, and stay within one 8-bit
level of that module's whole-image conversion in float64 (tested).
"""

from __future__ import annotations

import functools
import threading

import numba
import numpy as np
import torch

from .color import (
    CIE_DELTA,
    SRGB8_TABLE_STEPS,
    cie_f,
    rgb_to_lab,
    srgb8_luminance_table,
    srgb8_table,
    xyz_to_srgb8_steps,
)

LIGHTNESS_TABLE_STEPS = 1 << 16
"""Steps of Y in [0, 1] of the lightness table. Linear interpolation between them is within 1e-5 of the exact L (the
cube root bends most at the CIE curve's joint, Y = 0.0089, where the error is about 1e-6 of L's range)."""

CHROMA_SCALES = np.linspace(1.0, 0.0, 11)[1:]
"""The factors an out-of-gamut colour's ab tries, largest first (those of ``lab_to_rgb_in_gamut``)."""

_LINEAR_BRANCH_SLOPE = 3.0 * CIE_DELTA**2
"""Slope of the inverse CIE curve's line below delta."""
_LOCK = threading.Lock()  # numba's default thread pool runs one parallel loop at a time


@functools.cache
def _lightness_table() -> np.ndarray:
    """``(LIGHTNESS_TABLE_STEPS + 2,)`` float32: CIE L at each step of Y in [0, 1], computed in float64 (one entry
    past 1 so that Y = 1 interpolates inside the table)."""
    luminance = torch.arange(LIGHTNESS_TABLE_STEPS + 2, dtype=torch.float64) / LIGHTNESS_TABLE_STEPS
    return (116.0 * cie_f(luminance) - 16.0).float().numpy()


@functools.cache
def _grey_lightness_table() -> np.ndarray:
    """``(256,)`` float32: the CIE L of each 8-bit grey (R = G = B), computed in float64."""
    greys = (torch.arange(256, dtype=torch.float64) / 255.0).expand(3, 1, 256)
    return rgb_to_lab(greys)[0, 0].float().numpy()


@numba.njit(parallel=True, cache=True)
def _srgb8_lightness_rows(pixels, luminance_table, lightness_table, grey_table, out):  # pragma: no cover (compiled)
    rows, width, channels = pixels.shape
    steps = np.float32(len(lightness_table) - 2)
    for row in numba.prange(rows):
        for column in range(width):
            if channels == 1:
                out[row, column] = grey_table[pixels[row, column, 0]]
                continue
            luminance = (
                luminance_table[0, pixels[row, column, 0]]
                + luminance_table[1, pixels[row, column, 1]]
                + luminance_table[2, pixels[row, column, 2]]
            )
            position = min(max(luminance, np.float32(0.0)), np.float32(1.0)) * steps
            index = int(position)
            fraction = position - np.float32(index)
            low = lightness_table[index]
            out[row, column] = low + fraction * (lightness_table[index + 1] - low)


def srgb8_to_lightness(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """CIE L in [0, 100] of 8-bit sRGB pixels ``(H, W, C)`` (C = 3 for RGB, 1 for grey), as float32 ``(H, W)``
    (written into ``out`` when given): the L of :func:`~hf_colorize.color.rgb_to_lab` on the pixels divided by
    255, within 1e-4.

    Raises:
        ValueError: ``pixels`` are not uint8 ``(H, W, 1)`` or ``(H, W, 3)``.
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[-1] not in (1, 3):
        raise ValueError(f"srgb8_to_lightness expects uint8 (H, W, 1) or (H, W, 3), got {pixels.dtype} {pixels.shape}")
    out = torch.empty(pixels.shape[:2]).numpy() if out is None else out  # torch's allocator: see lab_to_srgb8
    luminance_table = srgb8_luminance_table().numpy()
    with _LOCK:
        _use_torch_threads()
        _srgb8_lightness_rows(pixels, luminance_table, _lightness_table(), _grey_lightness_table(), out)
    return out


@numba.njit(inline="always")
def _cie_inverse(f):  # pragma: no cover (compiled)
    """The inverse of the CIE curve f (XYZ relative to white): t^3 above delta, a line below, written without a
    branch, ``max(f, delta)^3 + 3 delta^2 (min(f, delta) - delta)``, so that the loop vectorises."""
    high = max(f, CIE_DELTA)
    return high * high * high + (min(f, CIE_DELTA) - CIE_DELTA) * _LINEAR_BRANCH_SLOPE


@numba.njit(inline="always")
def _linear_steps(lightness, a, b, matrix):  # pragma: no cover (compiled)
    """Linear R, G and B of one Lab colour, in table steps plus one half."""
    fy = (np.float64(lightness) + 16.0) / 116.0
    x = _cie_inverse(fy + a / 500.0)
    y = _cie_inverse(fy)
    z = _cie_inverse(fy - b / 200.0)
    half = 0.5
    red = matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2] * z + half
    green = matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2] * z + half
    blue = matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2] * z + half
    return red, green, blue


@numba.njit(inline="always")
def _enlarged_ab(ab, first, second, weight, column):  # pragma: no cover (compiled)
    """The ab of one output pixel: its column of the source rows ``first`` and ``second``, blended by ``weight``."""
    a = ab[0, first, column] + weight * (ab[0, second, column] - ab[0, first, column])
    b = ab[1, first, column] + weight * (ab[1, second, column] - ab[1, first, column])
    return a, b


@numba.njit(inline="always")
def _reduced_chroma(lightness, a, b, matrix, scales, limits):  # pragma: no cover (compiled)
    """Linear RGB of an out-of-gamut colour with its ab scaled by the first of ``scales`` that fits within
    ``limits``; unscaled where none does."""
    for scale in scales:
        red, green, blue = _linear_steps(lightness, a * scale, b * scale, matrix)
        if min(red, green, blue) >= limits[0] and max(red, green, blue) <= limits[1]:
            return red, green, blue
    return _linear_steps(lightness, a, b, matrix)


@numba.njit(parallel=True, cache=True)
def _lab_to_srgb8_rows(lightness, ab, above, below, weights, matrix, table, scales, limits, out):  # pragma: no cover
    height, width = lightness.shape
    low, high = 0.5, len(table) - 0.5
    for row in numba.prange(height):
        first, second, weight = above[row], below[row], weights[row]
        linear = np.empty((3, width))
        for column in range(width):  # vectorised: no branch
            a, b = _enlarged_ab(ab, first, second, weight, column)
            red, green, blue = _linear_steps(lightness[row, column], a, b, matrix)
            linear[0, column], linear[1, column], linear[2, column] = red, green, blue
        for column in range(width):
            red, green, blue = linear[0, column], linear[1, column], linear[2, column]
            if min(red, green, blue) < low or max(red, green, blue) > high:
                a, b = _enlarged_ab(ab, first, second, weight, column)
                red, green, blue = _reduced_chroma(lightness[row, column], a, b, matrix, scales, limits)
                red, green, blue = min(max(red, low), high), min(max(green, low), high), min(max(blue, low), high)
            out[row, column, 0] = table[int(red)]
            out[row, column, 1] = table[int(green)]
            out[row, column, 2] = table[int(blue)]


def row_blend(source_height: int, height: int, rows: range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of the output ``rows`` of an image ``height`` rows tall, the two of ``source_height`` rows it blends
    and the second's weight: bilinear enlargement with half-pixel centres, as ``F.interpolate(...,
    align_corners=False)``."""
    output_rows = np.arange(rows.start, rows.stop, dtype=np.float64)
    centres = np.maximum((output_rows + 0.5) * (source_height / height) - 0.5, 0.0)
    above = np.floor(centres).astype(np.int64)
    below = np.minimum(above + 1, source_height - 1)
    return above, below, (centres - above).astype(np.float32)


def lab_to_srgb8(lightness: np.ndarray, ab: np.ndarray, first_row: int = 0, height: int | None = None) -> np.ndarray:
    """8-bit sRGB ``(rows, W, 3)`` of CIE L ``(rows, W)`` and CIE ab ``(2, h, W)``, the ab's ``h`` rows enlarged
    bilinearly (half-pixel centres) to the ``height`` rows of the whole image (default: ``rows``), of which the L is
    the band starting at ``first_row``. A colour outside the sRGB gamut keeps its L: its ab shrinks by the largest of
    0.9, 0.8, ... 0 that fits. Within one level of :func:`~hf_colorize.color.lab_to_rgb_in_gamut`.

    Raises:
        ValueError: the shapes do not fit together.
    """
    rows, width = lightness.shape
    height = rows if height is None else height
    if ab.shape[0] != 2 or ab.shape[2] != width or not 0 < ab.shape[1] <= height or first_row + rows > height:
        raise ValueError(
            f"lab_to_srgb8 expects ab (2, h <= {height}, {width}) and rows {first_row}-{first_row + rows} of "
            f"{height}, got ab {ab.shape}"
        )
    # torch's allocator hands out large blocks that the loops' threads fill several times faster than numpy's
    out = torch.empty((rows, width, 3), dtype=torch.uint8).numpy()
    above, below, weights = row_blend(ab.shape[1], height, range(first_row, first_row + rows))
    with _LOCK:
        _use_torch_threads()
        matrix, table = xyz_to_srgb8_steps().numpy(), srgb8_table().numpy()
        _lab_to_srgb8_rows(lightness, ab, above, below, weights, matrix, table, CHROMA_SCALES, _gamut_limits(), out)
    return out


@functools.cache
def _gamut_limits() -> np.ndarray:
    """The linear RGB range, in table steps plus one half, that a chroma-scaled colour must fit: [0, 1] widened by
    ``lab_to_rgb_in_gamut``'s tolerance of 1e-6 on sRGB."""
    widen = SRGB8_TABLE_STEPS * np.array([1e-6 / 12.92, ((1.055 + 1e-6) / 1.055) ** 2.4 - 1.0])
    return np.array([0.5 - widen[0], SRGB8_TABLE_STEPS + 0.5 + widen[1]])


def _use_torch_threads() -> None:
    """Run the loops on as many threads as torch uses (``torch.set_num_threads``), within numba's pool."""
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
