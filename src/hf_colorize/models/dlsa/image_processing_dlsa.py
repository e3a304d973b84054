"""Image processor for DLSA: lightness plus encoded point hints or scribbles at model resolution."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers.feature_extraction_utils import BatchFeature

from ...hints import HintsLike, encode_hints
from ...image_processing import ColorizationImageProcessor, ImageInput, is_batch


class DlsaImageProcessor(ColorizationImageProcessor):
    r"""
    Prepares a grey (or colour, reduced to its lightness) image and the user's hints for [`DlsaForColorization`]:
    ``pixel_values`` stacks the lightness scaled to [-1, 1], the hint ab scaled by 1/110 and the hint mask,
    all at model resolution (Sec. 3.1, Eq. 4). Hints are ``(x, y, colour)`` points in input pixels, each
    covering a 2x2 square, or an RGBA scribble of the input's size.

    Args:
        size (`dict[str, int]`, *optional*, defaults to `{"height": 224, "width": 224}`):
            Model resolution (Sec. 4.3 trains at 224x224).
    """

    accepted_requests = frozenset({"hints"})

    def preprocess(
        self,
        images: ImageInput | Sequence[ImageInput],
        hints: HintsLike | Sequence[HintsLike] = None,
    ) -> BatchFeature:
        """Model inputs for one image or a batch; for a batch, ``hints`` is one hint set per image."""
        lightness = self.load(images)
        per_image_hints = hints if is_batch(images) else [hints]
        if per_image_hints is None:
            per_image_hints = [None] * len(lightness)
        if len(per_image_hints) != len(lightness):
            raise ValueError(f"got {len(per_image_hints)} hint sets for {len(lightness)} images")
        pixel_values = torch.stack(
            [self.encode(image, image_hints) for image, image_hints in zip(lightness, per_image_hints)]
        )
        return BatchFeature({"pixel_values": pixel_values, "lightness": lightness})

    def encode(self, lightness: torch.Tensor, hints: HintsLike = None) -> torch.Tensor:
        """``(4, h, w)`` model input for one full-resolution lightness ``(1, H, W)`` and its hints."""
        image_size = (lightness.shape[-1], lightness.shape[-2])
        hint_ab, hint_mask = encode_hints(hints, image_size, self.model_size)
        return torch.cat([self.model_lightness(lightness), hint_ab, hint_mask])
