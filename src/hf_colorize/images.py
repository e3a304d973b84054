"""Reading user images: paths, PIL images of any mode, numpy arrays, with errors that name the problem."""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from .color import rgb_to_lab
from .color_kernels import srgb8_to_lightness
from .pil_memory import float_plane, pixel_view

ImageLike = str | os.PathLike | Image.Image | np.ndarray

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
"""File suffixes (lower case) read as images by the CLI, the trainer and the example scripts."""
MAX_PIXELS = 64_000_000
"""Largest input accepted, in pixels (a 100-megapixel image is refused before it is decoded)."""
BAND_PIXELS = 1 << 20
"""Pixels converted at once at full resolution: reading an image and joining predicted colours with its lightness go
band by band of whole rows (:func:`row_bands`), so their float temporaries stay this size whatever the image's."""
PIL_BLOCKS_KEPT = 4
"""Freed memory blocks (16 MB each) that PIL keeps for its next images once a pipeline exists (Pillow's
``PILLOW_BLOCKS_MAX``, 0 by default): see :func:`keep_freed_image_blocks`."""


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


def _open_header(path: Path) -> Image.Image:
    """The image file opened, its size read from its header, its pixels not yet decoded."""
    if not path.exists():
        raise InvalidImageError(f"{path}: file not found")
    if path.is_dir():
        raise InvalidImageError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise InvalidImageError(f"{path}: file is empty")
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
    return image


def _open_path(path: Path) -> Image.Image:
    image = _open_header(path)
    _check_size(str(path), image.width, image.height)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidImageError(f"{path}: truncated or corrupt image ({error})") from None
    return image


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """An image file's ``(width, height)`` as stored (before EXIF orientation), from its header alone: the file is
    not decoded, so its size can be checked against a limit first.

    Raises:
        InvalidImageError: the file is missing, not an image, or a decompression bomb (so large that PIL refuses to
            open it).
    """
    with _open_header(Path(path)) as image:
        return image.size


def _check_array(array: np.ndarray, name: str) -> None:
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))):
        raise InvalidImageError(f"{name}: expected an HxW or HxWxC array with C in 1, 3, 4")
    _check_size(name, array.shape[1], array.shape[0])


def _array_to_rgb(array: np.ndarray, name: str) -> np.ndarray:
    """An HxW, HxWx1, HxWx3 or HxWx4 array (uint8, uint16 or float in [0, 1]) as float RGB in [0, 1]."""
    _check_array(array, name)
    if array.ndim == 3:
        array = array[..., :3]
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


_INTEGER_MODES = ("I;16", "I;16B", "I;16L", "I")


def _srgb8_rows(array: np.ndarray) -> np.ndarray:
    """An 8-bit HxW, HxWx1, HxWx3 or HxWx4 array as HxWx1 grey or HxWx3 RGB (alpha dropped), not copied."""
    return array.reshape(*array.shape[:2], -1)[..., :3]


def _pil_rows(image: Image.Image, name: str, integer_scale: float) -> np.ndarray:
    """A PIL image of any mode as 8-bit grey or RGB (:func:`_srgb8_rows`) when its values are 8-bit, else as float
    RGB in [0, 1]; integer modes are divided by ``integer_scale``."""
    if image.mode in _INTEGER_MODES:
        array = np.asarray(image, dtype=np.float64)
        return _array_to_rgb(np.clip(array / integer_scale, 0.0, 1.0).astype(np.float32), name)
    if image.mode == "F":
        return _array_to_rgb(np.asarray(image, dtype=np.float32), name)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGBA" if "transparency" in image.info or image.mode == "P" else "RGB")
    return _srgb8_rows(np.asarray(image.convert("RGB") if image.mode == "RGBA" else image))


def _array_rows(array: np.ndarray, name: str) -> np.ndarray:
    """Rows of an input array as :func:`_pil_rows` gives them: 8-bit ones as they are, others as float RGB."""
    return _srgb8_rows(array) if array.dtype == np.uint8 else _array_to_rgb(array, name)


def _float_rgb(rows: np.ndarray) -> np.ndarray:
    """Rows read by :func:`_open` as float RGB ``(rows, W, 3)`` in [0, 1]."""
    return rows if rows.dtype != np.uint8 else _array_to_rgb(rows, "rows")


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (``exif_transpose`` copies even an upright image, so it is
    called only when the image turns)."""
    if image.getexif().get(ExifTags.Base.Orientation, 1) == 1:
        return image
    return ImageOps.exif_transpose(image)


RowReader = Callable[[slice], np.ndarray]


def _in_place_rows(image: Image.Image) -> np.ndarray | None:
    """An RGB image's R, G, B and pad byte or an L image's grey, the values :func:`_pil_rows` reads, as an
    ``(H, W, C)`` view of the image's own memory (:func:`~hf_colorize.pil_memory.pixel_view`: no copy, where Pillow
    keeps the image in one block), or None."""
    if image.mode not in ("RGB", "L"):
        return None
    return pixel_view(image)


def _open(image: ImageLike) -> tuple[int, int, RowReader]:
    """An input's height, width and a function giving its rows ``rows``: 8-bit sRGB ``(rows, W, C)`` (C = 1 for grey,
    3 for RGB, 4 for RGB and a byte to ignore) when the input is 8-bit, else float RGB ``(rows, W, 3)`` in [0, 1]
    (:func:`_float_rgb` makes any of them float RGB).

    Raises:
        InvalidImageError: the file is missing, not an image, truncated, empty or too large.
    """
    name = describe(image)
    if isinstance(image, (str, os.PathLike)):
        image = _open_path(Path(image))
    if isinstance(image, np.ndarray):
        _check_array(image, name)
        return image.shape[0], image.shape[1], lambda rows: _array_rows(image[rows], name)
    if not isinstance(image, Image.Image):
        raise InvalidImageError(f"{name}: expected a path, a PIL image or a numpy array")
    _check_size(name, image.width, image.height)
    image = _upright(image)
    pixels = _in_place_rows(image)
    if pixels is not None:
        return image.height, image.width, lambda rows: pixels[rows]
    # 16-bit greys that use only 0-255 are 8-bit values: the whole image decides
    integer_scale = 65535.0 if image.mode in _INTEGER_MODES and image.getextrema()[1] > 255 else 255.0

    def read_rows(rows: slice) -> np.ndarray:
        return _pil_rows(image.crop((0, rows.start, image.width, rows.stop)), name, integer_scale)

    return image.height, image.width, read_rows


def keep_freed_image_blocks() -> None:
    """Let PIL reuse the memory of freed images (:data:`PIL_BLOCKS_KEPT` blocks) instead of returning it at once,
    unless ``PILLOW_BLOCKS_MAX`` is set: each 12-megapixel output otherwise takes fresh memory whose pages the system
    must hand over one by one, 15-20 ms a picture on 2 cores, more than the model's own time."""
    if "PILLOW_BLOCKS_MAX" not in os.environ:
        Image.core.set_blocks_max(max(Image.core.get_blocks_max(), PIL_BLOCKS_KEPT))


def row_bands(height: int, width: int) -> Iterator[slice]:
    """Consecutive bands of whole rows that cover a ``height`` x ``width`` image, each of about
    :data:`BAND_PIXELS` pixels (at least one row)."""
    rows = max(1, BAND_PIXELS // width)
    for top in range(0, height, rows):
        yield slice(top, min(top + rows, height))


def load_rgb(image: ImageLike) -> torch.Tensor:
    """Read any supported input as a float RGB tensor ``(3, H, W)`` in [0, 1].

    Raises:
        InvalidImageError: the file is missing, not an image, truncated, empty or too large.
    """
    height, width, read_rows = _open(image)
    rgb = np.concatenate([_float_rgb(read_rows(rows)) for rows in row_bands(height, width)])
    return torch.from_numpy(rgb).permute(2, 0, 1)


def load_lightness(image: ImageLike) -> torch.Tensor:
    """Read any supported input and reduce it to its CIE lightness, ``(1, H, W)`` in [0, 100].

    It is converted band by band (:func:`row_bands`), so a large image costs its decoded pixels and its lightness
    (4 bytes a pixel), not float RGB and Lab copies of the whole image. 8-bit pixels take a compiled loop
    (:func:`~hf_colorize.color_kernels.srgb8_to_lightness`). The lightness lies in PIL's memory where it fits one block
    (:func:`~hf_colorize.pil_memory.float_plane`): a large picture's then reuses the memory of the last one freed.
    """
    height, width, read_rows = _open(image)
    plane = float_plane(height, width)
    lightness = torch.empty(1, height, width) if plane is None else torch.from_numpy(plane)[None]
    for rows in row_bands(height, width):
        band = read_rows(rows)
        if band.dtype == np.uint8:
            srgb8_to_lightness(band, out=lightness[0, rows].numpy())
        else:
            lightness[:, rows] = rgb_to_lab(torch.from_numpy(band).permute(2, 0, 1))[:1]
    return lightness


def load_rgb_image(image: ImageLike) -> Image.Image:
    """Read any supported input as an 8-bit RGB PIL image (EXIF orientation applied), converted band by band, so a
    large image costs its 8-bit pixels only (to show it; :func:`load_rgb` keeps float precision)."""
    height, width, read_rows = _open(image)
    output = Image.new("RGB", (width, height))
    for rows in row_bands(height, width):
        output.paste(to_pil(torch.from_numpy(_float_rgb(read_rows(rows))).permute(2, 0, 1)), (0, rows.start))
    return output


SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}, "PNG": {"compress_level": 3}}
"""Encoder settings by PIL format (lossy formats at high quality; the others lossless). PNG's zlib level 3 in place
of Pillow's 6: on a 1024x768 photo 2.4 times faster to write for a file 2 % larger (the encode was the CLI's largest
cost after the imports)."""


def save_image(image: Image.Image, path: Path) -> None:
    """Write ``image`` to ``path`` in the format of its extension (PNG for one PIL does not know), whole or not at
    all: under the hidden name ``.NAME.partial`` next to it, renamed when complete, so a full disk or an
    interruption leaves no half-written file under ``path``.

    Raises:
        OutputWriteError: the file or its folder cannot be written.
    """
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image_format = Image.registered_extensions().get(path.suffix.lower(), "PNG")
        image.save(partial, format=image_format, **SAVE_OPTIONS.get(image_format, {}))
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


def image_files(folder: Path) -> list[Path]:
    """Every image file under ``folder``, at any depth, sorted: all of them, whatever their names (no split is read
    from words such as ``train`` or ``test`` in them). Hidden files and folders (a leading dot) are left out."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_EXTENSIONS
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def decode_image(image: dict) -> tuple[Image.Image | None, str | None]:
    """An undecoded ``datasets`` image (``{"bytes", "path"}``) decoded whole, or ``None`` and what stopped it."""
    try:
        decoded = Image.open(io.BytesIO(image["bytes"]) if image.get("bytes") else image["path"])
        decoded.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return None, str(error) or type(error).__name__
    return decoded, None
