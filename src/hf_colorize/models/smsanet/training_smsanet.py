"""How the trainer trains smsanet (its recipe, :mod:`hf_colorize.training.recipes`): the lightness alone in,
the model's own ab loss, validation from the lightness alone. Training code: only the trainer imports this
module."""

from ...evaluation import colorize_automatic
from ...training.data import automatic_model_inputs
from ...training.recipes import TrainingFamily

TRAINING_FAMILY = TrainingFamily(
    make_inputs=lambda rgb, args, references, config: automatic_model_inputs(rgb),
    colorize=colorize_automatic,
    hint_counts=(0,),
)
