"""Image processor for the cartoon colorizer: the lightness alone at stage 2's resolution."""

from __future__ import annotations

from ...image_processing import ColorizationImageProcessor


class CartoonColtranImageProcessor(ColorizationImageProcessor):
    r"""
    Prepares a grey drawing (or a colour one, reduced to its lightness) for [`CartoonColtranForColorization`]:
    ``pixel_values`` is the lightness scaled to [-1, 1] at stage 2's resolution (stage 1 averages it down to its
    64x64 grid); each sampled ab is upsampled and joined with the input's own full-resolution lightness.

    Args:
        size (`dict[str, int]`, *optional*, defaults to `{"height": 256, "width": 256}`):
            Stage 2's resolution: square, a multiple of the model's `coarse_size` and stride.
    """

    accepted_requests = frozenset({"samples"})

    def __init__(self, size: dict[str, int] | None = None, **kwargs):
        super().__init__(size=size if size is not None else {"height": 256, "width": 256}, **kwargs)
