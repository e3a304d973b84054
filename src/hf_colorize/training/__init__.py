"""Training: data, the trainer loop and checkpointing. Inference code never imports this package.

Each family's recipe (:class:`TrainingFamily`) lives in its own folder, ``models/<family>/training_<family>.py``, and
is found from the registered family (:mod:`hf_colorize.training.recipes`)."""

from .recipes import Adversary, TrainingFamily, training_families, training_family
from .trainer import TrainingArgumentError, build_parser, main, train

__all__ = [
    "Adversary",
    "TrainingArgumentError",
    "TrainingFamily",
    "build_parser",
    "main",
    "train",
    "training_families",
    "training_family",
]
