"""Evaluation: the fixed benchmark protocol, its metrics and reports."""

from .metrics import boundary_psnr, colorfulness, histogram_intersection, patch_error_variance, psnr, ssim
from .protocol import (
    EVAL_CROP,
    HINT_COUNTS,
    EvalImage,
    colorize_automatic,
    colorize_by_sampling,
    colorize_with_hints,
    colorize_with_reference,
    grey_prediction,
    load_eval_image,
    upgrade_own_colors,
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
    "EvalImage",
    "load_eval_image",
    "colorize_with_hints",
    "colorize_with_reference",
    "colorize_automatic",
    "colorize_by_sampling",
    "upgrade_own_colors",
    "grey_prediction",
]
