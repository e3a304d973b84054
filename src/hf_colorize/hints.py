"""User colour hints: parsing, validation and encoding into the model's hint channels.

A hint is a point ``(x, y, colour)`` in input-image pixels, the colour given as ``"#rrggbb"`` or ``(r, g, b)``
in 0-255, or an RGBA scribble image of the input's size whose pixels with alpha > 0 are hints; a list may hold
both (a point wins where they overlap). Hints are
encoded at model resolution as a 2-channel ab map (scaled by 1/110, zero elsewhere) and a 1-channel mask;
a point covers a 2x2 square, the hint size of Zhang et al. 2017 used by every point-hint paper here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .color import normalize_ab, rgb_to_lab

HINT_SIZE = 2
"""Side of the square a point hint covers, in model-resolution pixels."""

ColorLike = str | Sequence[int]
HintsLike = Sequence | Image.Image | np.ndarray | None

_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{6})$")


class InvalidHintError(ValueError):
    """A hint that cannot be used; the message names the hint and the problem."""


@dataclass(frozen=True)
class Hint:
    """A point hint: ``(x, y)`` in input-image pixels and an sRGB colour in 0-255."""

    x: float
    y: float
    rgb: tuple[int, int, int]


def parse_color(color: ColorLike) -> tuple[int, int, int]:
    """Parse ``"#rrggbb"`` (the ``#`` is optional) or an ``(r, g, b)`` sequence of 0-255 integers."""
    if isinstance(color, str):
        match = _HEX_COLOR.match(color.strip())
        if not match:
            raise InvalidHintError(f"malformed colour {color!r}: expected '#rrggbb'")
        value = match.group(1)
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    try:
        channels = tuple(color)
    except TypeError:
        raise InvalidHintError(f"malformed colour {color!r}: expected '#rrggbb' or (r, g, b)") from None
    if len(channels) != 3 or not all(
        isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c <= 255 for c in channels
    ):
        raise InvalidHintError(f"malformed colour {color!r}: expected three integers in 0-255")
    return int(channels[0]), int(channels[1]), int(channels[2])


def parse_hint_string(text: str) -> tuple[float, float, str]:
    """Parse the command line's ``X,Y,#RRGGBB``."""
    parts = text.split(",")
    if len(parts) != 3:
        raise InvalidHintError(f"malformed hint {text!r}: expected X,Y,#RRGGBB")
    try:
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        raise InvalidHintError(f"malformed hint {text!r}: X and Y must be numbers") from None
    parse_color(parts[2])
    return x, y, parts[2]


def parse_hints(hints: Sequence, width: int, height: int) -> list[Hint]:
    """Validate ``(x, y, colour)`` hints against an image of ``width`` x ``height`` pixels."""
    parsed = []
    for hint in hints:
        if isinstance(hint, Hint):
            x, y, color = hint.x, hint.y, hint.rgb
        else:
            try:
                x, y, color = hint
            except (TypeError, ValueError):
                raise InvalidHintError(f"malformed hint {hint!r}: expected (x, y, colour)") from None
        if not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in (x, y)):
            raise InvalidHintError(f"malformed hint {hint!r}: x and y must be numbers")
        if not (0 <= x < width and 0 <= y < height):
            raise InvalidHintError(f"hint at ({x}, {y}) is outside the {width}x{height} image")
        parsed.append(Hint(float(x), float(y), parse_color(color)))
    return parsed


def _rgb_to_normalized_ab(rgb: torch.Tensor) -> torch.Tensor:
    """``(N, 3)`` uint8-range colours to ``(N, 2)`` ab at model scale."""
    lab = rgb_to_lab((rgb.float() / 255.0).T.reshape(3, 1, -1))
    return normalize_ab(lab[1:, 0, :]).T


def encode_point_hints(
    hints: Sequence[Hint], image_size: tuple[int, int], model_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode parsed point hints as ``(hint_ab (2, h, w), hint_mask (1, h, w))`` at model resolution.

    ``image_size`` and ``model_size`` are ``(width, height)``. Each hint fills a ``HINT_SIZE`` square whose
    top-left corner is the hint's position scaled to model resolution (kept inside the image).
    """
    (width, height), (model_width, model_height) = image_size, model_size
    hint_ab = torch.zeros(2, model_height, model_width)
    hint_mask = torch.zeros(1, model_height, model_width)
    if not hints:
        return hint_ab, hint_mask
    colors = _rgb_to_normalized_ab(torch.tensor([hint.rgb for hint in hints]))
    for hint, color in zip(hints, colors):
        left = min(int(hint.x * model_width / width), model_width - HINT_SIZE)
        top = min(int(hint.y * model_height / height), model_height - HINT_SIZE)
        hint_ab[:, top : top + HINT_SIZE, left : left + HINT_SIZE] = color.view(2, 1, 1)
        hint_mask[:, top : top + HINT_SIZE, left : left + HINT_SIZE] = 1.0
    return hint_ab, hint_mask


def encode_scribble(
    scribble: Image.Image | np.ndarray, image_size: tuple[int, int], model_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode an RGBA scribble of the input's size (alpha > 0 marks a hint) at model resolution."""
    if isinstance(scribble, np.ndarray):
        if scribble.ndim != 3 or scribble.shape[2] != 4 or scribble.dtype != np.uint8:
            raise InvalidHintError(f"hint image array must be HxWx4 uint8 RGBA, got {scribble.dtype} {scribble.shape}")
        scribble = Image.fromarray(scribble)
    if scribble.mode != "RGBA":
        raise InvalidHintError(f"hint image must be RGBA (alpha > 0 marks hints), got mode {scribble.mode}")
    if scribble.size != tuple(image_size):
        raise InvalidHintError(
            f"hint image is {scribble.width}x{scribble.height} but the input image is {image_size[0]}x{image_size[1]}"
        )
    small = np.asarray(scribble.resize(model_size, Image.Resampling.NEAREST))
    hint_mask = torch.from_numpy(small[..., 3] > 0).float()[None]
    rgb = torch.from_numpy(small[..., :3].reshape(-1, 3).astype(np.int64))
    hint_ab = _rgb_to_normalized_ab(rgb).T.reshape(2, model_size[1], model_size[0]) * hint_mask
    return hint_ab, hint_mask


def _is_scribble(hint: object) -> bool:
    return isinstance(hint, Image.Image) or (isinstance(hint, np.ndarray) and hint.ndim == 3)


def encode_hints(
    hints: HintsLike, image_size: tuple[int, int], model_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode point hints, a scribble image, a list holding both, or ``None`` (no hints) at model resolution.

    Where a point hint and a scribble overlap, the point's colour is kept.
    """
    if hints is None:
        hints = []
    if _is_scribble(hints):
        hints = [hints]
    if isinstance(hints, (str, bytes)) or not isinstance(hints, Sequence):
        raise InvalidHintError(f"hints must be a list of (x, y, colour) or an RGBA image, got {type(hints).__name__}")
    points = [hint for hint in hints if not _is_scribble(hint)]
    hint_ab, hint_mask = encode_point_hints(parse_hints(points, *image_size), image_size, model_size)
    for scribble in (hint for hint in hints if _is_scribble(hint)):
        scribble_ab, scribble_mask = encode_scribble(scribble, image_size, model_size)
        hint_ab = torch.where(hint_mask > 0, hint_ab, scribble_ab)
        hint_mask = torch.maximum(hint_mask, scribble_mask)
    return hint_ab, hint_mask


def sample_hint_positions(
    count: int,
    height: int,
    width: int,
    generator: torch.Generator | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """``count`` distinct random top-left corners ``(row, col)`` of hint squares inside an image: uniform, or with
    probability proportional to ``weights``, one per corner, ``(height - HINT_SIZE + 1, width - HINT_SIZE + 1)``."""
    rows, cols = height - HINT_SIZE + 1, width - HINT_SIZE + 1
    if weights is None:
        flat = torch.randperm(rows * cols, generator=generator)[:count]
    else:
        flat = torch.multinomial(weights.flatten(), count, replacement=False, generator=generator)
    return torch.stack([flat // cols, flat % cols], dim=1)


def hints_from_ground_truth(ab: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hints taken from a true ab image ``(2, h, w)``: each square gets the mean true ab over it.

    This is how training and evaluation simulate a user (iColoriT, Zhang et al. 2017).
    """
    hint_ab = torch.zeros_like(ab)
    hint_mask = torch.zeros_like(ab[:1])
    for row, col in positions.tolist():
        square = (slice(None), slice(row, row + HINT_SIZE), slice(col, col + HINT_SIZE))
        hint_ab[square] = ab[square].mean(dim=(1, 2), keepdim=True)
        hint_mask[square] = 1.0
    return hint_ab, hint_mask
