"""Reading user images: paths, PIL images of any mode, numpy arrays, with errors that name the problem."""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .color import rgb_to_lab

ImageLike = str | os.PathLike | Image.Image | np.ndarray

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
"""File suffixes (lower case) read as images by the CLI, the trainer and the example scripts."""
MAX_PIXELS = 64_000_000
"""Largest input accepted, in pixels (a 100-megapixel image is refused before it is decoded)."""


class InvalidImageError(ValueError):
    """An input image that cannot be colorized; the message names the input and the problem."""


class OutputWriteError(OSError):
    """An output file that cannot be written; the message names the file and the problem."""


def cannot_write(path: Path, error: OSError) -> OutputWriteError:
    """The error for an output ``path`` that ``error`` stopped: a file standing where a folder of the path should
    be (an ``-o`` that is a file), or the system's reason (permission denied, no space left on device)."""
    blocking = next((folder for folder in path.parents if folder.is_file()), None)
    problem = f"{blocking} is a file, not a folder" if blocking is not None else error.strerror or str(error)
    return OutputWriteError(f"{path}: cannot write the output ({problem})")


def describe(image: ImageLike) -> str:
    """A short name for an input, used in error messages."""
    if isinstance(image, (str, os.PathLike)):
        return str(image)
    if isinstance(image, Image.Image):
        return getattr(image, "filename", "") or f"<PIL image {image.mode} {image.width}x{image.height}>"
    if isinstance(image, np.ndarray):
        return f"<array {image.dtype} {tuple(image.shape)}>"
    return f"<{type(image).__name__}>"


def _check_size(name: str, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise InvalidImageError(f"{name}: image has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise InvalidImageError(
            f"{name}: image is too large ({width}x{height} = {width * height / 1e6:.0f} megapixels; "
            f"the limit is {MAX_PIXELS / 1e6:.0f})"
        )


def _open_path(path: Path) -> Image.Image:
    if not path.exists():
        raise InvalidImageError(f"{path}: file not found")
    if path.is_dir():
        raise InvalidImageError(f"{path}: is a folder, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError:
        raise InvalidImageError(f"{path}: image is too large (over {MAX_PIXELS / 1e6:.0f} megapixels)") from None
    except UnidentifiedImageError:
        raise InvalidImageError(f"{path}: not an image file PIL can read") from None
    except OSError as error:
        raise InvalidImageError(f"{path}: cannot be read ({error})") from None
    _check_size(str(path), image.width, image.height)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidImageError(f"{path}: truncated or corrupt image ({error})") from None
    return image


def _array_to_rgb(array: np.ndarray, name: str) -> np.ndarray:
    """An HxW, HxWx1, HxWx3 or HxWx4 array (uint8, uint16 or float in [0, 1]) as float RGB in [0, 1]."""
    if array.ndim == 3 and array.shape[2] in (1, 3, 4):
        array = array[..., :3]
    elif array.ndim != 2:
        raise InvalidImageError(f"{name}: expected an HxW or HxWxC array with C in 1, 3, 4")
    _check_size(name, array.shape[1], array.shape[0])
    if array.dtype == np.uint8:
        values = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        values = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InvalidImageError(f"{name}: array contains NaN or infinite values")
        values = np.clip(array.astype(np.float32), 0.0, 1.0)
    else:
        raise InvalidImageError(f"{name}: unsupported array dtype {array.dtype} (use uint8, uint16 or float)")
    if values.ndim == 2:
        values = values[..., None]
    if values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    return values


def _pil_to_rgb(image: Image.Image, name: str) -> np.ndarray:
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if array.max(initial=0) > 255 else 255.0
        return _array_to_rgb(np.clip(array / scale, 0.0, 1.0).astype(np.float32), name)
    if image.mode == "F":
        return _array_to_rgb(np.asarray(image, dtype=np.float32), name)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGBA" if "transparency" in image.info or image.mode == "P" else "RGB")
    return _array_to_rgb(np.asarray(image.convert("RGB") if image.mode == "RGBA" else image), name)


def load_rgb(image: ImageLike) -> torch.Tensor:
    """Read any supported input as a float RGB tensor ``(3, H, W)`` in [0, 1].

    Raises:
        InvalidImageError: the file is missing, not an image, truncated, empty or too large.
    """
    name = describe(image)
    if isinstance(image, (str, os.PathLike)):
        image = _open_path(Path(image))
    if isinstance(image, Image.Image):
        _check_size(name, image.width, image.height)
        rgb = _pil_to_rgb(image, name)
    elif isinstance(image, np.ndarray):
        rgb = _array_to_rgb(image, name)
    else:
        raise InvalidImageError(f"{name}: expected a path, a PIL image or a numpy array")
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()


def load_lightness(image: ImageLike) -> torch.Tensor:
    """Read any supported input and reduce it to its CIE lightness, ``(1, H, W)`` in [0, 100]."""
    return rgb_to_lab(load_rgb(image))[:1]


def save_png(image: Image.Image, path: Path) -> None:
    """Write ``image`` to ``path`` as a PNG, whole or not at all: under the hidden name ``.NAME.partial`` next to
    it, renamed when complete, so a full disk or an interruption leaves no half-written file under ``path``.

    Raises:
        OutputWriteError: the file or its folder cannot be written.
    """
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(partial, format="PNG")
        os.replace(partial, path)
    except OSError as error:
        raise cannot_write(path, error) from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def to_pil(rgb: torch.Tensor) -> Image.Image:
    """A float RGB tensor ``(3, H, W)`` in [0, 1] as an 8-bit PIL image."""
    array = (rgb.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array)
