"""Evaluation: the fixed benchmark protocol, its metrics and reports. Each family's colorizer under the protocol
(:data:`Colorizer`) is in its training recipe (:mod:`hf_colorize.training.recipes`)."""

from .metrics import boundary_psnr, colorfulness, histogram_intersection, patch_error_variance, psnr, ssim
from .protocol import (
    EVAL_CROP,
    HINT_COUNTS,
    Colorizer,
    EvalImage,
    colorize_inputs,
    compose,
    grey_prediction,
    lightness_batch,
    load_eval_image,
    normalized_lab,
)

__all__ = [
    "psnr",
    "ssim",
    "boundary_psnr",
    "patch_error_variance",
    "colorfulness",
    "histogram_intersection",
    "EVAL_CROP",
    "HINT_COUNTS",
    "Colorizer",
    "EvalImage",
    "load_eval_image",
    "colorize_inputs",
    "compose",
    "lightness_batch",
    "normalized_lab",
    "grey_prediction",
]
