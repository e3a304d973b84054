"""Training: data, the trainer loop and checkpointing. Inference code never imports this package.

Each family's recipe (:class:`TrainingFamily`, with its :class:`TrainingOptions` of :func:`option` fields) lives in its
own folder, ``models/<family>/training_<family>.py``, and is found from the registered family
(:mod:`hf_colorize.training.recipes`)."""

from .recipes import (
    Adversary,
    ReferencePairing,
    TrainingFamily,
    TrainingOptions,
    option,
    training_families,
    training_family,
)
from .trainer import TrainingArgumentError, build_parser, main, train

__all__ = [
    "Adversary",
    "ReferencePairing",
    "TrainingArgumentError",
    "TrainingFamily",
    "TrainingOptions",
    "build_parser",
    "main",
    "option",
    "train",
    "training_families",
    "training_family",
]
