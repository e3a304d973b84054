"""How the trainer trains cartoon_coltran (its recipe, :mod:`hf_colorize.training.recipes`), in two stages
(``--stage``): the colour transformer on the true 3-bit colours, then the upgrading network on each image's own
colours with its conditional discriminator (Fig. 6, Eq. 10), from stage 1's output folder
(``--pretrained_model_name_or_path``); validation and benchmarks by sampling (:func:`colorize_by_sampling`) or, for
stage 2, by upgrading each image's own colours (:func:`upgrade_own_colors`). Training code: only the trainer and
the benchmarks import this module, never the modeling module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from ...color import lab_to_rgb
from ...evaluation import Colorizer, EvalImage, colorize_inputs, lightness_batch
from ...training.data import lab_targets
from ...training.discriminators import PatchDiscriminator
from ...training.recipes import Adversary, TrainingFamily
from .configuration_cartoon_coltran import CartoonColtranConfig
from .modeling_cartoon_coltran import coarse_colors


class CartoonColtranDiscriminator(PatchDiscriminator):
    """Fig. 6: a conditional patch discriminator (pix2pix) judging (L, upsampled coarse ab, ab) at stage 2's
    resolution, trained beside the upgrading network (``examples/train.py --stage upgrader``)."""

    def __init__(self, config: CartoonColtranConfig):
        channels = 1 + 2 * config.num_output_channels
        super().__init__(channels, config.discriminator_hidden_size, config.discriminator_layers)


def colorizer_inputs(rgb: torch.Tensor, config: CartoonColtranConfig) -> dict[str, torch.Tensor]:
    """Stage 1: ``pixel_values`` (the lightness) and ``color_labels``, the true 3-bit colours on the model's
    ``coarse_size`` grid."""
    lightness, _ = lab_targets(rgb)
    return {"pixel_values": lightness, "color_labels": coarse_colors(rgb, config, grid=config.coarse_size)}


def upgrader_inputs(rgb: torch.Tensor, config: CartoonColtranConfig) -> dict[str, torch.Tensor]:
    """Stage 2: ``pixel_values``, the truth's own ``coarse_colors`` (Table I) on the grid of stage 2's size ratio,
    and the true ab as ``labels``."""
    lightness, ab = lab_targets(rgb)
    return {"pixel_values": lightness, "coarse_colors": coarse_colors(rgb, config), "labels": ab}


@torch.no_grad()
def colorize_by_sampling(model: torch.nn.Module, images: list[EvalImage], count: int = 0) -> list[torch.Tensor]:
    """The model's uint8 RGB outputs: one colouring per image, drawn by its ``generate`` with seed 0.

    ``count`` is ignored: it keeps the signature of a :data:`~hf_colorize.evaluation.Colorizer`.
    """
    generator = torch.Generator().manual_seed(0)
    return colorize_inputs(model, images, lightness_batch(images), predict=model.generate, generator=generator)


@torch.no_grad()
def upgrade_own_colors(model: torch.nn.Module, images: list[EvalImage], count: int = 0) -> list[torch.Tensor]:
    """The model's upgrading network alone, fed each image's own 3-bit colours (paper 003, Table I).

    ``count`` is ignored: it keeps the signature of a :data:`~hf_colorize.evaluation.Colorizer`.
    """
    rgb = torch.stack([lab_to_rgb(image.lab) for image in images])
    return colorize_inputs(model, images, lightness_batch(images), coarse_colors=coarse_colors(rgb, model.config))


def stage(
    make_inputs: Callable[[torch.Tensor, CartoonColtranConfig], dict[str, torch.Tensor]],
    colorize: Colorizer,
    validation_setting: str,
    adversary: Adversary | None = None,
) -> TrainingFamily:
    return TrainingFamily(
        make_inputs=lambda rgb, options, references, config: make_inputs(rgb, config),
        colorize=colorize,
        adversary=adversary,
        validation_setting=validation_setting,
    )


STAGES = {
    "colorizer": stage(
        colorizer_inputs,
        colorize_by_sampling,
        "one sample (seed 0) from the lightness alone, upgraded by stage 2 as it stands",
    ),
    "upgrader": stage(
        upgrader_inputs,
        upgrade_own_colors,
        "each image's own 3-bit colours, upgraded (paper 003, Table I)",
        adversary=Adversary(
            build=CartoonColtranDiscriminator,
            images=lambda batch, outputs: (
                torch.cat([batch["pixel_values"], outputs.upsampled_ab, batch["labels"]], dim=1),
                torch.cat([batch["pixel_values"], outputs.upsampled_ab, outputs.ab], dim=1),
            ),
            weight=lambda config: config.adversarial_loss_weight,
            loss="vanilla",
        ),
    ),
}
"""The two stages, in training order: the colour transformer, then the upgrading network with its discriminator
(Eq. 10)."""

TRAINING_FAMILY = replace(STAGES["colorizer"], stages=STAGES)
"""Without ``--stage`` the family is its first stage; ``--stage`` picks one of :data:`STAGES`."""
