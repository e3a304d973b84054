"""Evaluation: the fixed benchmark protocol and its metrics."""

from .metrics import psnr
from .protocol import EVAL_CROP, HINT_COUNTS, EvalImage, colorize_with_hints, grey_prediction, load_eval_image

__all__ = ["psnr", "EVAL_CROP", "HINT_COUNTS", "EvalImage", "load_eval_image", "colorize_with_hints", "grey_prediction"]
