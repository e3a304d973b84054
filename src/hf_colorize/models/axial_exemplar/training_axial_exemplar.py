"""How the trainer trains axial_exemplar (its recipe, :mod:`hf_colorize.training.recipes`): each target paired
with a reference (its own jittered picture, its nearest neighbour by the model's descriptor, or any image), and
the multi-scale adversary of Sec. 3.3 (LSGAN) beside the model. Training code: only the trainer imports this
module, never the modeling module."""

from __future__ import annotations

import torch
from torch import nn

from ...evaluation import colorize_with_reference
from ...training.data import exemplar_model_inputs
from ...training.discriminators import PatchDiscriminator
from ...training.pairs import exemplar_descriptor
from ...training.recipes import Adversary, TrainingFamily
from .configuration_axial_exemplar import AxialExemplarConfig
from .modeling_axial_exemplar import pyramid


class AxialExemplarDiscriminator(nn.Module):
    """The multi-scale adversary of Sec. 3.3: one patch discriminator per prediction level (pix2pix's, the paper's
    [22]), each judging (L, ab) at its scale (normalised Lab), trained with LSGAN."""

    def __init__(self, config: AxialExemplarConfig):
        super().__init__()
        channels = 1 + config.num_output_channels
        self.scales = nn.ModuleList(
            PatchDiscriminator(channels, config.discriminator_hidden_size, config.discriminator_layers)
            for _ in range(config.num_levels - 1)
        )

    def forward(self, images: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """Patch logits for each scale's ``(B, 3, H_l, W_l)`` image, finest first."""
        if len(images) != len(self.scales):
            raise ValueError(f"expected {len(self.scales)} scales of (L, ab) images, got {len(images)}")
        return tuple(discriminator(image) for discriminator, image in zip(self.scales, images))


def pyramid_lab(lightness: torch.Tensor, pyramid_ab: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """(L, ab) at each level of a prediction pyramid, the lightness average-pooled alike: what the
    :class:`AxialExemplarDiscriminator` judges."""
    return tuple(torch.cat([level, ab], dim=1) for level, ab in zip(pyramid(lightness, len(pyramid_ab)), pyramid_ab))


TRAINING_FAMILY = TrainingFamily(
    make_inputs=lambda rgb, args, references, config: exemplar_model_inputs(rgb, references),
    colorize=colorize_with_reference,
    adversary=Adversary(
        build=AxialExemplarDiscriminator,
        images=lambda batch, outputs: (
            pyramid_lab(batch["pixel_values"], pyramid(batch["labels"], len(outputs.pyramid_ab))),
            pyramid_lab(batch["pixel_values"], outputs.pyramid_ab),
        ),
        weight=lambda config: config.adversarial_loss_weight,
        loss="lsgan",
    ),
    describe_references=exemplar_descriptor,
    validation_setting="each image's own colour picture as the reference",
)
