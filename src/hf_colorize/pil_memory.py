"""A PIL image's own pixel memory as a numpy array, without a copy, through the Arrow C data interface.

Reading a 12-megapixel picture's pixels the public way (``np.asarray(image)``, or a crop of each band) copies them
twice, single-threaded: 25-30 ms, more than the model's own time. Pillow 11.2 and later export an image's memory as an
Arrow array (``Image.__arrow_c_array__``) when it lies in one block; the structs of the Arrow C data interface
(https://arrow.apache.org/docs/format/CDataInterface.html) are a stable ABI, read here with ``ctypes``. The exported
memory stays valid while the array lives, whatever happens to the image; the array returned here holds it.

Pillow keeps an image in one block when the image fits its block size (``PILLOW_BLOCK_SIZE``, 16 MB by default):
:func:`keep_images_whole` raises it so that photos up to :data:`WHOLE_IMAGE_BYTES` are.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
from PIL import Image

WHOLE_IMAGE_BYTES = 1 << 27
"""Pillow's block size once a pipeline exists (128 MB, Pillow's ``PILLOW_BLOCK_SIZE``): an RGB image takes 4 bytes a
pixel, so pictures up to 32 megapixels made after that lie in one block and are read and written without a copy. A
block takes only the memory its image needs."""
VIEWED_MODES = {
    "RGB": (np.uint8, 4),
    "RGBA": (np.uint8, 4),
    "RGBX": (np.uint8, 4),
    "L": (np.uint8, 1),
    "F": (np.float32, 1),
}
"""PIL modes whose pixels :func:`pixel_view` gives: the type of each value and the values each pixel takes in
memory."""
_ARROW_FORMATS = {np.uint8: b"C", np.float32: b"f"}


class _ArrowSchema(ctypes.Structure):
    pass


class _ArrowArray(ctypes.Structure):
    pass


_ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowSchema))),
    ("dictionary", ctypes.c_void_p),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]
_ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))),
    ("dictionary", ctypes.c_void_p),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _exported_values(image: Image.Image) -> ctypes.Array | None:
    """The image's pixel values as a ctypes array over its own memory (holding the Arrow capsules, whose release hands
    the memory back), or None where Pillow does not export it (before 11.2, or an image in several blocks)."""
    try:
        schema_capsule, array_capsule = image.__arrow_c_array__()
    except (AttributeError, ValueError):
        return None
    schema = _ArrowSchema.from_address(_capsule_pointer(schema_capsule, b"arrow_schema"))
    array = _ArrowArray.from_address(_capsule_pointer(array_capsule, b"arrow_array"))
    dtype, bands = VIEWED_MODES[image.mode]
    # one value per pixel ("C": uint8, "f": float32), or a fixed-size list of 4 bytes ("+w:4") whose child holds them
    if bands == 4 and schema.format == b"+w:4" and array.n_children == 1:
        array = array.children[0].contents
    elif not (bands == 1 and schema.format == _ARROW_FORMATS[dtype]):
        return None
    if array.n_buffers != 2 or array.offset != 0 or array.length != image.width * image.height * bands:
        return None
    pixels = (np.ctypeslib.as_ctypes_type(dtype) * array.length).from_address(array.buffers[1])
    pixels.exported = (schema_capsule, array_capsule)  # the memory lives as long as these
    return pixels


def pixel_view(image: Image.Image) -> np.ndarray | None:
    """An image's pixels as a writable ``(H, W, C)`` array over the image's own memory: uint8 with C = 4 for RGB
    (R, G, B and a pad byte PIL keeps at 255), RGBA and RGBX, uint8 with C = 1 for L, float32 with C = 1 for F. None
    for other modes, before Pillow 11.2, for an image over memory that PIL maps rather than owns (``Image.fromarray``,
    ``Image.frombuffer``, some uncompressed files: ``image.readonly``) and for an image in several memory blocks (see
    :func:`keep_images_whole`): read those the public way."""
    if image.mode not in VIEWED_MODES or image.width == 0 or image.height == 0:
        return None
    image.load()
    if image.readonly:  # memory PIL maps rather than owns (a numpy array's, a file's): Pillow 12 cannot export it
        return None
    pixels = _exported_values(image)
    if pixels is None:
        return None
    dtype, bands = VIEWED_MODES[image.mode]
    return np.frombuffer(pixels, dtype).reshape(image.height, image.width, bands)


def float_plane(height: int, width: int) -> np.ndarray | None:
    """A new, unfilled float32 ``(height, width)`` array in PIL's memory (an F image's, :func:`pixel_view`), or None
    where PIL would split it into blocks. A freed one goes back to PIL's kept blocks
    (:func:`~hf_colorize.images.keep_freed_image_blocks`), so the next one of its size costs no fresh memory: a fresh
    12-megapixel plane costs 15 ms of the system handing over its pages one by one."""
    pixels = pixel_view(Image.new("F", (width, height), None))
    return None if pixels is None else pixels[..., 0]


def keep_images_whole() -> None:
    """Let Pillow keep images up to :data:`WHOLE_IMAGE_BYTES` in one block of memory, so that :func:`pixel_view`
    reads and writes them in place, unless ``PILLOW_BLOCK_SIZE`` is set (the user's choice stands)."""
    if "PILLOW_BLOCK_SIZE" not in os.environ:
        Image.core.set_block_size(max(Image.core.get_block_size(), WHOLE_IMAGE_BYTES))
