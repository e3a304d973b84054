"""How the trainer trains smsanet (its recipe, :mod:`hf_colorize.training.recipes`): the lightness alone in,
the model's own ab loss, validation and benchmarks from the lightness alone. Training code: only the trainer
and the benchmarks import this module."""

from __future__ import annotations

import torch

from ...evaluation import EvalImage, colorize_inputs, lightness_batch
from ...training.data import lab_targets
from ...training.recipes import TrainingFamily, TrainingOptions


def automatic_model_inputs(
    rgb: torch.Tensor, options: TrainingOptions, references: None, config: object
) -> dict[str, torch.Tensor]:
    """``pixel_values`` (the lightness alone) and ``labels``."""
    lightness, ab = lab_targets(rgb)
    return {"pixel_values": lightness, "labels": ab}


@torch.no_grad()
def colorize_automatic(model: torch.nn.Module, images: list[EvalImage], count: int = 0) -> list[torch.Tensor]:
    """An automatic model's uint8 RGB outputs for ``images`` from their lightness alone.

    ``count`` is ignored: it keeps the signature of a :data:`~hf_colorize.evaluation.Colorizer`.
    """
    return colorize_inputs(model, images, lightness_batch(images))


TRAINING_FAMILY = TrainingFamily(make_inputs=automatic_model_inputs, colorize=colorize_automatic, hint_counts=(0,))
