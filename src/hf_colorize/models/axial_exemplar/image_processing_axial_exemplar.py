"""Image processor for the exemplar colorizer: target lightness and reference Lab at model resolution."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers.feature_extraction_utils import BatchFeature

from ...color import normalize_ab, normalize_lightness, rgb_to_lab
from ...image_processing import ColorizationImageProcessor, ImageInput, is_batch, readable, resize_channels, split_batch
from ...images import InvalidImageError, describe, load_rgb

MIN_REFERENCE_CHROMA = 2.0
"""A reference whose mean chroma (CIE ab distance from grey) is below this has no colour to give."""


class AxialExemplarImageProcessor(ColorizationImageProcessor):
    r"""
    Prepares a grey (or colour, reduced to its lightness) target and a colour reference picture for
    [`AxialExemplarForColorization`]: ``pixel_values`` is the target's lightness scaled to [-1, 1] and
    ``reference_values`` the reference in Lab (L scaled to [-1, 1], ab by 1/110), both resized to the model
    resolution whatever their own sizes (Sec. 4.1 resizes every image to 224x224). Predicted ab is upsampled and
    joined with the target's own full-resolution lightness.

    Args:
        size (`dict[str, int]`, *optional*, defaults to `{"height": 224, "width": 224}`):
            Model resolution; both sides must be multiples of the model's stride (16).
    """

    accepted_requests = frozenset({"reference"})
    required_requests = frozenset({"reference"})

    model_input_names = ["pixel_values", "reference_values"]

    def preprocess(
        self,
        images: ImageInput | Sequence[ImageInput],
        reference: ImageInput | Sequence[ImageInput] | None = None,
    ) -> BatchFeature:
        """Model inputs for one target or a batch; a batch takes one reference for all or a list, one per image."""
        if reference is None:
            raise ValueError("the 'axial_exemplar' model needs a colour reference picture: pass reference=...")
        lightness = self.load(images)
        references = split_batch(reference) if is_batch(reference) else [reference] * len(lightness)
        if len(references) != len(lightness):
            raise ValueError(f"got {len(references)} references for {len(lightness)} images")
        pixel_values = torch.stack([self.model_lightness(image) for image in lightness])
        reference_values = torch.stack([self.encode_reference(image) for image in references])
        return BatchFeature(
            {"pixel_values": pixel_values, "reference_values": reference_values, "lightness": lightness}
        )

    def load_reference(self, reference: ImageInput) -> np.ndarray:
        """A reference picture read and checked once, as float RGB ``(h, w, 3)`` in [0, 1] at model resolution:
        the form a pipeline keeps to give the same reference to many targets without decoding it again.

        Raises:
            InvalidImageError: the reference cannot be read, or it is grey (no colour to transfer).
        """
        width, height = self.model_size
        rgb = resize_channels(load_rgb(readable(reference)), height, width)
        chroma = rgb_to_lab(rgb)[1:].norm(dim=0).mean().item()
        if chroma < MIN_REFERENCE_CHROMA:
            raise InvalidImageError(
                f"{describe(reference)}: the reference is grey (mean chroma {chroma:.1f}); "
                "it needs colours to give the target"
            )
        return rgb.clamp(0, 1).permute(1, 2, 0).numpy()

    def encode_reference(self, reference: ImageInput) -> torch.Tensor:
        """``(3, h, w)`` normalised Lab of a reference picture at model resolution.

        Raises:
            InvalidImageError: the reference cannot be read, or it is grey (no colour to transfer).
        """
        lab = rgb_to_lab(torch.from_numpy(self.load_reference(reference)).permute(2, 0, 1))
        return torch.cat([normalize_lightness(lab[:1]), normalize_ab(lab[1:])])
