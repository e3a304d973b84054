"""Image processor for SMSANet: the lightness alone at model resolution."""

from __future__ import annotations

from ...image_processing import ColorizationImageProcessor


class SmsanetImageProcessor(ColorizationImageProcessor):
    r"""
    Prepares a grey (or colour, reduced to its lightness) image for [`SmsanetForColorization`]: ``pixel_values``
    is the lightness scaled to [-1, 1] at model resolution, the only input of the automatic network (Sec. 2.1);
    predicted ab is upsampled and joined with the input's own full-resolution lightness.

    Args:
        size (`dict[str, int]`, *optional*, defaults to `{"height": 224, "width": 224}`):
            Model resolution; both sides must be multiples of the model's stride (8).
    """
