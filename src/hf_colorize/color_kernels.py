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
import sys
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

GAMUT_MARGIN_STEPS = 1.0 / 16.0
"""Linear-RGB table steps around the gamut's limits within which :func:`lab_to_srgb8` leaves a decision to float64
(whether a colour fits, at full chroma or at a chroma scale): float32 puts a colour within about 0.01 of a step of
where float64 does, so only there can the two disagree on whether it fits, and with it on how far its chroma
shrinks."""
SEARCH_CHUNK = 64
"""Out-of-gamut pixels whose chroma scales are tried together: a chunk stops at the first scale after which none of
its pixels is still searching. Neighbours' colours are alike, so a chunk whose colours fit at 0.9 costs one try, not
ten (dlsa-tiny's 12-megapixel loop: 45 -> 40 ms)."""
_LITTLE_ENDIAN = sys.byteorder == "little"
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


@numba.njit(inline="always")
def _lightness_of(luminance, lightness_table):  # pragma: no cover (compiled)
    """CIE L of a luminance Y, read from ``lightness_table`` with linear interpolation."""
    position = min(max(luminance, np.float32(0.0)), np.float32(1.0)) * np.float32(len(lightness_table) - 2)
    index = int(position)
    fraction = position - np.float32(index)
    low = lightness_table[index]
    return low + fraction * (lightness_table[index + 1] - low)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _srgb8_lightness_rows(pixels, luminance_table, lightness_table, grey_table, out):  # pragma: no cover (compiled)
    rows, width, channels = pixels.shape
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
            out[row, column] = _lightness_of(luminance, lightness_table)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _rgbx_lightness_rows(words, luminance_table, lightness_table, out):  # pragma: no cover (compiled)
    """:func:`_srgb8_lightness_rows` for pixels of 4 bytes (R, G, B and one ignored) read as one little-endian word
    each: loads that vectorise, where byte loads 4 apart do not (12 against 15 ms at 12 megapixels)."""
    rows, width = words.shape
    byte = np.uint32(255)
    for row in numba.prange(rows):
        for column in range(width):
            word = words[row, column]
            luminance = (
                luminance_table[0, word & byte]
                + luminance_table[1, (word >> np.uint32(8)) & byte]
                + luminance_table[2, (word >> np.uint32(16)) & byte]
            )
            out[row, column] = _lightness_of(luminance, lightness_table)


def srgb8_to_lightness(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """CIE L in [0, 100] of 8-bit sRGB pixels ``(H, W, C)`` (C = 3 for RGB, 1 for grey, 4 for RGB and a fourth byte
    that is ignored, as PIL keeps RGB), as float32 ``(H, W)`` (written into ``out`` when given): the L of
    :func:`~hf_colorize.color.rgb_to_lab` on the pixels divided by 255, within 1e-4.

    Raises:
        ValueError: ``pixels`` are not uint8 ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``.
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"srgb8_to_lightness expects uint8 (H, W, 1), (H, W, 3) or (H, W, 4), got {pixels.dtype} {pixels.shape}"
        )
    out = torch.empty(pixels.shape[:2]).numpy() if out is None else out  # torch's allocator: see lab_to_srgb8
    luminance_table = srgb8_luminance_table().numpy()
    as_words = pixels.shape[-1] == 4 and pixels.strides[-1] == 1 and _LITTLE_ENDIAN
    with _LOCK:
        _use_torch_threads()
        if as_words:
            _rgbx_lightness_rows(pixels.view(np.uint32)[..., 0], luminance_table, _lightness_table(), out)
        else:
            pixels = pixels[..., :3]
            _srgb8_lightness_rows(pixels, luminance_table, _lightness_table(), _grey_lightness_table(), out)
    return out


@numba.njit(inline="always")
def _cie_inverse(f, constants):  # pragma: no cover (compiled)
    """The inverse of the CIE curve f (XYZ relative to white): t^3 above delta, a line below, written without a
    branch, ``max(f, delta)^3 + 3 delta^2 (min(f, delta) - delta)``, so that the loop vectorises."""
    delta, slope = constants[9], constants[10]
    high = max(f, delta)
    return high * high * high + (min(f, delta) - delta) * slope


@numba.njit(inline="always")
def _linear_steps(lightness, a, b, constants):  # pragma: no cover (compiled)
    """Linear R, G and B of one Lab colour, in table steps plus one half, in the precision of ``constants``
    (:func:`_conversion_constants`: a tuple, so that the loops keep them in registers)."""
    fy = (lightness + constants[11]) * constants[12]
    x = _cie_inverse(fy + a * constants[13], constants)
    y = _cie_inverse(fy, constants)
    z = _cie_inverse(fy - b * constants[14], constants)
    half = constants[15]
    red = constants[0] * x + constants[1] * y + constants[2] * z + half
    green = constants[3] * x + constants[4] * y + constants[5] * z + half
    blue = constants[6] * x + constants[7] * y + constants[8] * z + half
    return red, green, blue


@numba.njit(inline="always")
def _conversion_constants(values):  # pragma: no cover (compiled)
    """The 16 values of :func:`_constants_table` as a tuple of their dtype."""
    return (
        values[0], values[1], values[2], values[3], values[4], values[5], values[6], values[7],
        values[8], values[9], values[10], values[11], values[12], values[13], values[14], values[15],
    )  # fmt: skip


@numba.njit(inline="always")
def _enlarged_ab(ab, first, second, weight, column):  # pragma: no cover (compiled)
    """The ab of one output pixel: its column of the source rows ``first`` and ``second``, blended by ``weight``."""
    a = ab[0, first, column] + weight * (ab[0, second, column] - ab[0, first, column])
    b = ab[1, first, column] + weight * (ab[1, second, column] - ab[1, first, column])
    return a, b


@numba.njit(inline="always")
def _rgbx(red, green, blue):  # pragma: no cover (compiled)
    """One pixel's R, G, B and 255 bytes, in that order in memory, as one 32-bit word: a store the loop vectorises,
    where four byte stores do not."""
    red, green, blue = np.uint32(red), np.uint32(green), np.uint32(blue)
    if _LITTLE_ENDIAN:
        return red | (green << np.uint32(8)) | (blue << np.uint32(16)) | np.uint32(0xFF000000)
    return (red << np.uint32(24)) | (green << np.uint32(16)) | (blue << np.uint32(8)) | np.uint32(0xFF)


@numba.njit(inline="always")
def _outside(red, green, blue, low, high):  # pragma: no cover (compiled)
    return (min(red, green, blue) < low) | (max(red, green, blue) > high)


@numba.njit(inline="always")
def _exact_steps(lightness, a, b, constants, scales, limits, low, high):  # pragma: no cover (compiled)
    """Linear RGB of one colour in float64, as :func:`~hf_colorize.color.lab_to_rgb_in_gamut` decides it: as it is
    when it lies within ``[low, high]``, else with its ab scaled by the first of ``scales`` that fits within
    ``limits`` (unscaled where none does); clamped to ``[low, high]``."""
    red, green, blue = _linear_steps(np.float64(lightness), np.float64(a), np.float64(b), constants)
    if _outside(red, green, blue, low, high):
        for scale in scales:
            scaled = _linear_steps(np.float64(lightness), a * scale, b * scale, constants)
            if not _outside(scaled[0], scaled[1], scaled[2], limits[0], limits[1]):
                red, green, blue = scaled
                break
    return min(max(red, low), high), min(max(green, low), high), min(max(blue, low), high)


@numba.njit(inline="always")
def _side_of_limits(red, green, blue, low, high, margin):  # pragma: no cover (compiled)
    """1 where a float32 colour lies within ``[low, high]`` by more than ``margin``, -1 where it lies outside by
    more than ``margin``, 0 where float32 cannot tell (float64 might decide otherwise)."""
    lowest, highest = min(red, green, blue), max(red, green, blue)
    inside = (lowest >= low + margin) & (highest <= high - margin)
    outside = (lowest < low - margin) | (highest > high + margin)
    return np.int8(1) if inside else (np.int8(-1) if outside else np.int8(0))


@numba.njit(fastmath=True, cache=True)
def _settle_near_limits(row, side, row_a, row_b, lightness, fast, exact, scales, limits, table, out):
    """Convert again the pixels of ``row`` that float32 found outside the gamut's limits or within
    :data:`GAMUT_MARGIN_STEPS` of them (``side`` below 1, :func:`_side_of_limits`; a function of its own: inlined, it
    kept the main loop from vectorising). ``row_a`` and ``row_b`` are the row's enlarged ab.

    The pixels are gathered into short arrays (their L, ab and side, which the main loop computed), and the chroma
    scales are tried in float32 on :data:`SEARCH_CHUNK` of them at once (a loop that vectorises), largest first, until
    none of the chunk is still searching. A pixel is settled in float32 where
    each decision up to its first fitting scale is clear by the margin: float64 then decides alike
    (:func:`_exact_steps`). The others, and the colours on the gamut's edge at full chroma, are converted again in
    float64. ``fast`` and ``exact`` are :func:`_conversion_constants` in float32 and float64, made once per
    call by the caller.
    """
    columns = np.flatnonzero(side < 1)
    count = len(columns)
    if count == 0:
        return
    low, high = 0.5, len(table) - 0.5
    pixel_lightness = np.empty(count, np.float32)
    pixel_a, pixel_b = np.empty(count, np.float32), np.empty(count, np.float32)
    state = np.empty(count, np.int8)  # -1: still searching, 1: settled in float32, 0: float64 decides
    for index in range(count):
        column = columns[index]
        pixel_lightness[index] = lightness[row, column]
        pixel_a[index], pixel_b[index], state[index] = row_a[column], row_b[column], side[column]
    settled = np.empty((3, count), np.float32)
    fit_low, fit_high = np.float32(limits[0]), np.float32(limits[1])
    margin = np.float32(GAMUT_MARGIN_STEPS)
    fast_scales = scales.astype(np.float32)
    for chunk in range(0, count, SEARCH_CHUNK):
        # unsigned bounds: numba then knows the index is not negative, and the loop vectorises
        start, stop = np.uint64(chunk), np.uint64(min(chunk + SEARCH_CHUNK, count))
        for scale in fast_scales:
            searching_after = 0
            for index in range(start, stop):  # vectorised, in float32
                red, green, blue = _linear_steps(
                    pixel_lightness[index], pixel_a[index] * scale, pixel_b[index] * scale, fast
                )
                fits = _side_of_limits(red, green, blue, fit_low, fit_high, margin)
                searching = state[index] == -1
                found = searching & (fits == 1)
                settled[0, index] = red if found else settled[0, index]
                settled[1, index] = green if found else settled[1, index]
                settled[2, index] = blue if found else settled[2, index]
                state[index] = fits if searching else state[index]
                searching_after += searching & (fits == -1)
            if searching_after == 0:
                break
    for index in range(count):
        column = columns[index]
        if state[index] == 1:
            red, green, blue = settled[0, index], settled[1, index], settled[2, index]
            red, green, blue = min(max(red, low), high), min(max(green, low), high), min(max(blue, low), high)
        else:
            red, green, blue = _exact_steps(
                pixel_lightness[index], pixel_a[index], pixel_b[index], exact, scales, limits, low, high
            )
        out[row, column] = _rgbx(table[int(red)], table[int(green)], table[int(blue)])


@numba.njit(parallel=True, fastmath=True, cache=True)
def _lab_to_srgb8_rows(lightness, ab, above, below, weights, constants, table, scales, limits, out):  # pragma: no cover
    height, width = lightness.shape
    fast, exact = _conversion_constants(constants.astype(np.float32)), _conversion_constants(constants)
    # float32 decides a pixel only where its rounding cannot cross a gamut limit (it is off by far less than this)
    margin = np.float32(GAMUT_MARGIN_STEPS)
    low, high = np.float32(0.5), np.float32(len(table) - 0.5)
    for row in numba.prange(height):
        first, second, weight = above[row], below[row], weights[row]
        side = np.empty(width, np.int8)
        row_a, row_b = np.empty(width, np.float32), np.empty(width, np.float32)
        for column in range(width):  # vectorised, in float32
            a, b = _enlarged_ab(ab, first, second, weight, column)
            red, green, blue = _linear_steps(lightness[row, column], a, b, fast)
            side[column] = _side_of_limits(red, green, blue, low, high, margin)
            row_a[column], row_b[column] = a, b
            out[row, column] = _rgbx(
                table[np.int32(min(max(red, low), high))],
                table[np.int32(min(max(green, low), high))],
                table[np.int32(min(max(blue, low), high))],
            )
        _settle_near_limits(row, side, row_a, row_b, lightness, fast, exact, scales, limits, table, out)


def row_blend(source_height: int, height: int, rows: range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of the output ``rows`` of an image ``height`` rows tall, the two of ``source_height`` rows it blends
    and the second's weight: bilinear enlargement with half-pixel centres, as ``F.interpolate(...,
    align_corners=False)``."""
    output_rows = np.arange(rows.start, rows.stop, dtype=np.float64)
    centres = np.maximum((output_rows + 0.5) * (source_height / height) - 0.5, 0.0)
    above = np.floor(centres).astype(np.int64)
    below = np.minimum(above + 1, source_height - 1)
    return above, below, (centres - above).astype(np.float32)


def lab_to_srgb8(
    lightness: np.ndarray, ab: np.ndarray, first_row: int = 0, height: int | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """8-bit sRGB pixels ``(rows, W, 4)`` (R, G, B and 255: the layout of PIL's RGB images, so that ``out`` may be
    an output image's own memory, :func:`~hf_colorize.pil_memory.pixel_view`) of CIE L ``(rows, W)`` and CIE ab
    ``(2, h, W)``, the ab's ``h`` rows enlarged bilinearly (half-pixel centres) to the ``height`` rows of the whole
    image (default: ``rows``), of which the L is the band starting at ``first_row``. A colour outside the sRGB gamut
    keeps its L: its ab shrinks by the largest of 0.9, 0.8, ... 0 that fits. Within one level of
    :func:`~hf_colorize.color.lab_to_rgb_in_gamut`. Written into ``out`` when given.

    Each pixel is converted in float32, in a loop that vectorises. A pixel within
    :data:`GAMUT_MARGIN_STEPS` of the gamut's limits, or outside them, has its chroma scales tried in float32, and is
    converted again in float64 only where one of those decisions falls within that margin.

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
    if out is not None and (out.dtype != np.uint8 or out.shape != (rows, width, 4)):
        raise ValueError(f"lab_to_srgb8 writes uint8 ({rows}, {width}, 4), got out {out.dtype} {out.shape}")
    # torch's allocator hands out large blocks that the loops' threads fill several times faster than numpy's
    out = torch.empty((rows, width, 4), dtype=torch.uint8).numpy() if out is None else out
    above, below, weights = row_blend(ab.shape[1], height, range(first_row, first_row + rows))
    with _LOCK:
        _use_torch_threads()
        words = out.view(np.uint32)[..., 0]  # each pixel's 4 bytes as one word
        constants, table, limits = _constants_table(), _word_table(), _gamut_limits()
        _lab_to_srgb8_rows(lightness, ab, above, below, weights, constants, table, CHROMA_SCALES, limits, words)
    return out


@functools.cache
def _word_table() -> np.ndarray:
    """:func:`~hf_colorize.color.srgb8_table` (the 8-bit sRGB level of each step of linear RGB) as 32-bit words: the
    loop reads three entries a pixel, and gathers of words vectorise where gathers of bytes do not (the Lab to RGB
    loop took 31 instead of 18 ms at 12 megapixels)."""
    return srgb8_table().numpy().astype(np.uint32)


@functools.cache
def _constants_table() -> np.ndarray:
    """``(16,)`` float64, what :func:`_linear_steps` reads: XYZ to linear RGB in table steps (:func:`~hf_colorize.
    color.xyz_to_srgb8_steps`, row by row), delta and 3 delta^2 of the CIE curve, then 16, 1 / 116, 1 / 500 and
    1 / 200 (Lab to the curve's values) and one half (to round to the nearest table step)."""
    curve = [CIE_DELTA, 3.0 * CIE_DELTA**2, 16.0, 1.0 / 116.0, 1.0 / 500.0, 1.0 / 200.0, 0.5]
    return np.concatenate([xyz_to_srgb8_steps().numpy().ravel(), curve])


@functools.cache
def _gamut_limits() -> np.ndarray:
    """The linear RGB range, in table steps plus one half, that a chroma-scaled colour must fit: [0, 1] widened by
    ``lab_to_rgb_in_gamut``'s tolerance of 1e-6 on sRGB."""
    widen = SRGB8_TABLE_STEPS * np.array([1e-6 / 12.92, ((1.055 + 1e-6) / 1.055) ** 2.4 - 1.0])
    return np.array([0.5 - widen[0], SRGB8_TABLE_STEPS + 0.5 + widen[1]])


def _use_torch_threads() -> None:
    """Run the loops on as many threads as torch uses (``torch.set_num_threads``), within numba's pool."""
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
