"""Training: data, the trainer loop and checkpointing. Inference code never imports this package."""

from .trainer import TRAINING_FAMILIES, TrainingArgumentError, build_parser, main, train

__all__ = ["TRAINING_FAMILIES", "TrainingArgumentError", "build_parser", "main", "train"]
