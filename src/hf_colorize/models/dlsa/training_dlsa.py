"""How the trainer trains dlsa (its recipe, :mod:`hf_colorize.training.recipes`): point hints drawn from the truth
(:func:`~hf_colorize.training.data.hint_model_inputs`, up to ``--max_hints``; a share ``--counterfactual_hints`` of
the images recoloured around a hint first; a share ``--contrast_hints`` with hints where the colour stands out), the
model's own ab loss, validation with k hints of the true colour.
Training code: only the trainer imports this module."""

from ...evaluation import HINT_COUNTS, colorize_with_hints
from ...training.data import hint_model_inputs
from ...training.recipes import TrainingFamily

TRAINING_FAMILY = TrainingFamily(
    make_inputs=lambda rgb, args, references, config: hint_model_inputs(
        rgb,
        args.max_hints,
        args.counterfactual_hints,
        config.propagation_spatial_sigma,
        config.propagation_range_sigma,
        args.contrast_hints,
    ),
    colorize=colorize_with_hints,
    hint_counts=HINT_COUNTS,
)
