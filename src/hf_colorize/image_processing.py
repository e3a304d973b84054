"""The image-processor base every family shares: lightness in at model resolution, ab out at full size."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor

from .color import denormalize_ab, lab_to_rgb_in_gamut, normalize_lightness
from .images import ImageLike, InvalidImageError, load_lightness, row_bands, to_pil

ImageInput = ImageLike | torch.Tensor
"""One image as the processors take it: a path, a PIL image or a numpy array (:mod:`hf_colorize.images`), or a torch
tensor ``(C, H, W)`` (:func:`tensor_to_array`)."""


def is_batch(images: ImageInput | Sequence[ImageInput]) -> bool:
    """Whether ``images`` is several images: a list, a tuple or a ``(B, C, H, W)`` tensor."""
    return isinstance(images, (list, tuple)) or (isinstance(images, torch.Tensor) and images.ndim == 4)


def split_batch(images: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    """One image or a batch (:func:`is_batch`) as a list of images."""
    if not is_batch(images):
        return [images]
    return list(images.unbind(0)) if isinstance(images, torch.Tensor) else list(images)


def tensor_to_array(image: torch.Tensor) -> np.ndarray:
    """A torch image ``(C, H, W)``, C being 1 (grey), 3 (RGB) or 4 (RGBA), as the ``(H, W, C)`` array the image
    readers take. Values are in [0, 1], or in [0, 255] (an integer tensor, or a float one with a value above 1), as
    transformers' image processors read them.

    Raises:
        InvalidImageError: another shape, or an integer tensor with values outside [0, 255].
    """
    if image.ndim != 3 or image.shape[0] not in (1, 3, 4):
        raise InvalidImageError(
            f"a tensor image must be (C, H, W), or a (B, C, H, W) batch, with C in 1, 3, 4; got {tuple(image.shape)}"
        )
    channels_last = image.detach().cpu().permute(1, 2, 0)
    if image.is_floating_point():
        array = channels_last.float().numpy()
        return array / 255 if array.max(initial=0) > 1 else array
    if channels_last.numel() and (channels_last.min() < 0 or channels_last.max() > 255):
        raise InvalidImageError(f"an integer tensor image must hold values in [0, 255], got {image.dtype} outside it")
    return channels_last.to(torch.uint8).numpy()


def readable(image: ImageInput) -> ImageLike:
    """``image`` as the image readers take it: a tensor becomes an array (:func:`tensor_to_array`)."""
    return tensor_to_array(image) if isinstance(image, torch.Tensor) else image


def resize_channels(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize ``(C, H, W)`` channels bilinearly (antialiased when shrinking)."""
    if tuple(image.shape[-2:]) == (height, width):
        return image
    return F.interpolate(image[None], size=(height, width), mode="bilinear", antialias=True, align_corners=False)[0]


def enlarge_rows(image: torch.Tensor, height: int, rows: slice) -> torch.Tensor:
    """The rows ``rows`` of ``(C, h, W)`` channels enlarged bilinearly to ``height >= h`` rows (half-pixel centres, as
    ``F.interpolate(..., align_corners=False)``), computed for those rows alone."""
    source_height = image.shape[-2]
    centres = (torch.arange(rows.start, rows.stop, dtype=torch.float64) + 0.5) * (source_height / height) - 0.5
    centres = centres.clamp(min=0)
    above = centres.floor().long()
    below = (above + 1).clamp(max=source_height - 1)
    weight = (centres - above).to(image.dtype).view(-1, 1)
    return image[:, above] * (1 - weight) + image[:, below] * weight


def join_lightness(ab: torch.Tensor, lightness: torch.Tensor) -> Image.Image:
    """Predicted ab ``(2, h, w)`` resized to the lightness ``(1, H, W)`` and joined with it as an RGB image,
    out-of-gamut colours losing chroma rather than lightness.

    It goes band by band of rows (:func:`~hf_colorize.images.row_bands`), so a large image costs its lightness and its
    8-bit output, not float copies of the whole image; each band's rows are computed as a whole-image resize computes
    them, so the output does not depend on the band size.
    """
    height, width = lightness.shape[-2:]
    ab = resize_channels(ab.to(lightness.device), min(ab.shape[-2], height), width)  # small: h rows at most
    output = Image.new("RGB", (width, height))
    for rows in row_bands(height, width):
        band_ab = denormalize_ab(enlarge_rows(ab, height, rows))
        output.paste(to_pil(lab_to_rgb_in_gamut(lightness[:, rows], band_ab)), (0, rows.start))
    return output


class ProcessorConfigError(ValueError):
    """An image processor configuration that cannot be used (a size that is not positive)."""


class ColorizationImageProcessor(BaseImageProcessor):
    r"""
    Turns images into model lightness at a fixed resolution and turns predicted ab back into full-size RGB.

    Args:
        size (`dict[str, int]`, *optional*, defaults to `{"height": 224, "width": 224}`):
            Model resolution every image is resized to; both sides must be multiples of the model's stride.
    """

    model_input_names = ["pixel_values"]

    accepted_requests: frozenset[str] = frozenset()
    """Which optional requests (``hints``, ``reference``, ``samples``) the family honours."""

    required_requests: frozenset[str] = frozenset()
    """Requests the family cannot colorize without."""

    def __init__(self, size: dict[str, int] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.size = dict(size) if size is not None else {"height": 224, "width": 224}
        sides = [self.size.get(name) for name in ("height", "width")]
        if not all(isinstance(side, int) and not isinstance(side, bool) and side > 0 for side in sides):
            raise ProcessorConfigError(f"size must be positive whole numbers {{'height': H, 'width': W}}, got {size}")

    @property
    def model_size(self) -> tuple[int, int]:
        """Model resolution as ``(width, height)``."""
        return self.size["width"], self.size["height"]

    def model_lightness(self, lightness: torch.Tensor) -> torch.Tensor:
        """Full-resolution CIE L ``(1, H, W)`` resized to model resolution and scaled to [-1, 1]."""
        width, height = self.model_size
        return normalize_lightness(resize_channels(lightness, height, width))

    def load(self, images: ImageInput | Sequence[ImageInput]) -> list[torch.Tensor]:
        """Read one image or a batch (:func:`is_batch`) as full-resolution CIE lightness tensors ``(1, H, W)``."""
        return [load_lightness(readable(image)) for image in split_batch(images)]

    def preprocess(self, images: ImageInput | Sequence[ImageInput]) -> BatchFeature:
        """Model inputs for a batch: ``pixel_values`` and the full-resolution ``lightness`` list."""
        lightness = self.load(images)
        pixel_values = torch.stack([self.model_lightness(image) for image in lightness])
        return BatchFeature({"pixel_values": pixel_values, "lightness": lightness})

    def __call__(
        self, images: ImageInput | Sequence[ImageInput], return_tensors: str | None = None, **request: Any
    ) -> BatchFeature:
        """:meth:`preprocess` with the family's ``request`` (``hints``, ``reference``). The outputs are PyTorch
        tensors, so ``return_tensors`` may only be ``"pt"``.

        Raises:
            TypeError: a keyword the family's ``preprocess`` does not take (a misspelt ``hints``), named.
        """
        accepted = [name for name in inspect.signature(self.preprocess).parameters if name != "images"]
        unknown = sorted(set(request) - set(accepted))
        if unknown:
            raise TypeError(
                f"unknown argument(s) {', '.join(unknown)}: {type(self).__name__} takes "
                f"{', '.join(['images', *accepted, 'return_tensors'])}"
            )
        if return_tensors not in (None, "pt"):
            raise ValueError(
                f"{type(self).__name__} returns PyTorch tensors: return_tensors='pt', not {return_tensors!r}"
            )
        return self.preprocess(images, **request)

    def post_process_colorization(self, ab: torch.Tensor, lightness: Sequence[torch.Tensor]) -> list[Image.Image]:
        """Predicted ab ``(B, 2, h, w)`` upsampled to each image's size and joined with its own L.

        Out-of-gamut colours lose chroma rather than lightness, so each output's L is the input's.
        """
        return [join_lightness(prediction, full_lightness) for prediction, full_lightness in zip(ab.float(), lightness)]
