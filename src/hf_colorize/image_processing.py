"""The image-processor base every family shares: lightness in at model resolution, ab out at full size."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor
from transformers.image_utils import ChannelDimension

from .color import denormalize_ab, normalize_lightness
from .color_kernels import lab_to_srgb8
from .images import ImageLike, InvalidImageError, load_lightness, row_bands
from .pil_memory import pixel_view

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


def in_default_layout(
    images: ImageInput | Sequence[ImageInput], input_data_format: ChannelDimension | str
) -> ImageInput | list[ImageInput]:
    """``images`` with their channels where the readers expect them, from transformers' ``input_data_format``:
    channels last for a numpy array, first for a torch tensor. Paths, PIL images and channel-less (``"none"``)
    arrays are kept as they are.

    Raises:
        ValueError: ``input_data_format`` is not a ``ChannelDimension``.
    """
    layout = ChannelDimension(input_data_format)
    if isinstance(images, (list, tuple)):
        return [in_default_layout(image, layout) for image in images]
    if isinstance(images, torch.Tensor) and layout == ChannelDimension.LAST:
        return images.movedim(-1, -3)
    if isinstance(images, np.ndarray) and layout == ChannelDimension.FIRST:
        return np.moveaxis(images, -3, -1)
    return images


def lightness_statistic(value: float | Sequence[float], name: str) -> float:
    """``image_mean`` or ``image_std`` as the one value of the lightness channel: a number, or a list of one value or
    of three equal ones (transformers' RGB form).

    Raises:
        ValueError: several different values, or a standard deviation that is not positive.
    """
    values = [float(value)] if isinstance(value, (int, float)) else [float(item) for item in value]
    if len(values) not in (1, 3) or len(set(values)) != 1:
        raise ValueError(f"{name} must be one value for the lightness channel (or three equal ones), got {value!r}")
    if name == "image_std" and not values[0] > 0:
        raise ValueError(f"image_std must be positive, got {value!r}")
    return values[0]


def readable(image: ImageInput) -> ImageLike:
    """``image`` as the image readers take it: a tensor becomes an array (:func:`tensor_to_array`)."""
    return tensor_to_array(image) if isinstance(image, torch.Tensor) else image


def resize_channels(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize ``(C, H, W)`` channels bilinearly (antialiased when shrinking)."""
    if tuple(image.shape[-2:]) == (height, width):
        return image
    return F.interpolate(image[None], size=(height, width), mode="bilinear", antialias=True, align_corners=False)[0]


def ab_columns(ab: torch.Tensor, height: int, width: int) -> np.ndarray:
    """Predicted ab ``(2, h, w)`` as CIE ab resized to an image's ``width`` and at most ``h`` of its ``height`` rows:
    what :func:`~hf_colorize.color_kernels.lab_to_srgb8` enlarges row by row."""
    return denormalize_ab(resize_channels(ab.float().cpu(), min(ab.shape[-2], height), width)).contiguous().numpy()


def join_lightness(ab: torch.Tensor, lightness: torch.Tensor) -> Image.Image:
    """Predicted ab ``(2, h, w)`` resized to the lightness ``(1, H, W)`` and joined with it as an RGB image,
    out-of-gamut colours losing chroma rather than lightness.

    The ab is resized to the image's width here (:func:`ab_columns`); the compiled loop of
    :func:`~hf_colorize.color_kernels.lab_to_srgb8` enlarges its rows as it converts and writes the output image's
    own memory (:func:`~hf_colorize.pil_memory.pixel_view`). Where Pillow keeps the image in several blocks, it goes
    band by band of rows (:func:`~hf_colorize.images.row_bands`), each band pasted into the output. A large image
    costs its lightness and its output, no float copy of the whole image and no second 8-bit one.
    """
    height, width = lightness.shape[-2:]
    columns = ab_columns(ab, height, width)
    plane = lightness[0].float().cpu().numpy()
    output = Image.new("RGB", (width, height), None)  # every pixel is written below
    pixels = pixel_view(output)
    if pixels is not None:
        lab_to_srgb8(plane, columns, out=pixels)
        return output
    for rows in row_bands(height, width):
        band = lab_to_srgb8(plane[rows], columns, rows.start, height)
        output.paste(Image.frombytes("RGB", (width, len(band)), band, "raw", "RGBX"), (0, rows.start))
    return output


class ProcessorConfigError(ValueError):
    """An image processor configuration that cannot be used (a size that is not positive)."""


class ColorizationImageProcessor(BaseImageProcessor):
    r"""
    Turns images into model lightness at a fixed resolution and turns predicted ab back into full-size RGB.

    Args:
        size (`dict[str, int]`, *optional*, defaults to `{"height": 224, "width": 224}`):
            Model resolution every image is resized to; both sides must be multiples of the model's stride.
        image_mean (`float` or `list[float]`, *optional*, defaults to `[0.5]`):
            The lightness channel of `pixel_values` is (L / 100 - image_mean) / image_std; one value, or three equal
            ones. The models were trained with the defaults: L in [-1, 1].
        image_std (`float` or `list[float]`, *optional*, defaults to `[0.5]`):
            See `image_mean`; positive.

    A call also takes transformers' standard keywords: `image_mean` and `image_std` for that call,
    `input_data_format` (`"channels_first"` or `"channels_last"`: where the channels of array or tensor images
    are; by default last for numpy arrays and first for torch tensors), and `do_convert_rgb`, which is accepted
    and ignored: every image, whatever its mode (grey, RGB, palette, with alpha), is reduced to its lightness.
    """

    model_input_names = ["pixel_values"]

    standard_keywords = ("image_mean", "image_std", "input_data_format", "do_convert_rgb")
    """transformers' image-processor keywords a call takes besides the family's own requests."""

    accepted_requests: frozenset[str] = frozenset()
    """Which optional requests (``hints``, ``reference``, ``samples``) the family honours."""

    required_requests: frozenset[str] = frozenset()
    """Requests the family cannot colorize without."""

    def __init__(
        self,
        size: dict[str, int] | None = None,
        image_mean: float | list[float] | None = None,
        image_std: float | list[float] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.size = dict(size) if size is not None else {"height": 224, "width": 224}
        sides = [self.size.get(name) for name in ("height", "width")]
        if not all(isinstance(side, int) and not isinstance(side, bool) and side > 0 for side in sides):
            raise ProcessorConfigError(f"size must be positive whole numbers {{'height': H, 'width': W}}, got {size}")
        try:
            self.image_mean = [lightness_statistic(0.5 if image_mean is None else image_mean, "image_mean")]
            self.image_std = [lightness_statistic(0.5 if image_std is None else image_std, "image_std")]
        except ValueError as error:
            raise ProcessorConfigError(str(error)) from None

    @property
    def model_size(self) -> tuple[int, int]:
        """Model resolution as ``(width, height)``."""
        return self.size["width"], self.size["height"]

    def model_lightness(self, lightness: torch.Tensor) -> torch.Tensor:
        """Full-resolution CIE L ``(1, H, W)`` resized to model resolution and normalised: (L / 100 - image_mean) /
        image_std, which the defaults make [-1, 1] (exactly :func:`~hf_colorize.color.normalize_lightness`)."""
        width, height = self.model_size
        (mean,), (std,) = self.image_mean, self.image_std
        return normalize_lightness(resize_channels(lightness, height, width)) * (0.5 / std) + (0.5 - mean) / std

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
        """:meth:`preprocess` with the family's ``request`` (``hints``, ``reference``) and transformers' standard
        keywords (see the class). The outputs are PyTorch tensors, so ``return_tensors`` may only be ``"pt"``.

        Raises:
            TypeError: a keyword neither the family's ``preprocess`` nor the standard ones include (a misspelt
                ``hints``), named.
            ValueError: a bad value of a standard keyword.
        """
        standard = {name: request.pop(name) for name in self.standard_keywords if name in request}
        accepted = [name for name in inspect.signature(self.preprocess).parameters if name != "images"]
        unknown = sorted(set(request) - set(accepted))
        if unknown:
            raise TypeError(
                f"unknown argument(s) {', '.join(unknown)}: {type(self).__name__} takes "
                f"{', '.join(['images', *accepted, 'return_tensors', *self.standard_keywords])}"
            )
        if return_tensors not in (None, "pt"):
            raise ValueError(
                f"{type(self).__name__} returns PyTorch tensors: return_tensors='pt', not {return_tensors!r}"
            )
        if standard.get("input_data_format") is not None:
            images = in_default_layout(images, standard["input_data_format"])
        processor = self
        statistics = {name: standard[name] for name in ("image_mean", "image_std") if standard.get(name) is not None}
        if statistics:  # this call's normalisation, on a copy: the processor itself is left as it is
            processor = copy.copy(self)
            for name, value in statistics.items():
                setattr(processor, name, [lightness_statistic(value, name)])
        return processor.preprocess(images, **request)

    def post_process_colorization(self, ab: torch.Tensor, lightness: Sequence[torch.Tensor]) -> list[Image.Image]:
        """Predicted ab ``(B, 2, h, w)`` upsampled to each image's size and joined with its own L.

        Out-of-gamut colours lose chroma rather than lightness, so each output's L is the input's.
        """
        return [
            join_lightness(prediction, full_lightness)
            for prediction, full_lightness in zip(ab.detach().float(), lightness)
        ]
