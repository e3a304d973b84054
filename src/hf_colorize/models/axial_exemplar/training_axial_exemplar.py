"""How the trainer trains axial_exemplar (its recipe, :mod:`hf_colorize.training.recipes`): each target paired
with a reference (its own jittered picture, its nearest neighbour by the model's descriptor, or any image, in the
proportions ``--reference_proportions``), and the multi-scale adversary of Sec. 3.3 (LSGAN) beside the model;
validation and benchmarks with a reference picture (:func:`colorize_with_reference`). Training code: only the trainer
and the benchmarks import this module, never the modeling module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ...evaluation import EvalImage, colorize_inputs, lightness_batch, normalized_lab
from ...training.data import lab_targets
from ...training.discriminators import PatchDiscriminator
from ...training.pairs import DEFAULT_PROPORTIONS, Describe
from ...training.recipes import Adversary, ReferencePairing, TrainingFamily, TrainingOptions, option
from .configuration_axial_exemplar import AxialExemplarConfig
from .modeling_axial_exemplar import pyramid


@dataclass(frozen=True)
class AxialExemplarTrainingOptions(TrainingOptions):
    """How each target's reference picture is drawn (:class:`~hf_colorize.training.pairs.ReferenceSampler`)."""

    argument_group: ClassVar[str] = "axial_exemplar (reference pictures)"

    reference_proportions: tuple[float, float, float] = option(
        DEFAULT_PROPORTIONS,
        "how often a target's reference is its own re-cropped, colour-jittered picture, its nearest neighbour by "
        "backbone features, or a random image (paper 002's alpha: 0.6 0.3 0.1)",
        metavar=("SELF", "NEAREST", "RANDOM"),
    )

    def __post_init__(self) -> None:
        proportions = self.reference_proportions
        if min(proportions) < 0 or sum(proportions) <= 0:
            raise ValueError(
                f"--reference_proportions: reference proportions {list(proportions)}: three non-negative weights, "
                "not all 0"
            )


def exemplar_model_inputs(
    rgb: torch.Tensor, options: AxialExemplarTrainingOptions, references: torch.Tensor, config: AxialExemplarConfig
) -> dict[str, torch.Tensor]:
    """``pixel_values`` (the target's lightness), ``reference_values`` (the reference's normalised Lab) and
    ``labels`` (the target's ab)."""
    lightness, ab = lab_targets(rgb)
    reference_lightness, reference_ab = lab_targets(references)
    reference_values = torch.cat([reference_lightness, reference_ab], dim=1)
    return {"pixel_values": lightness, "reference_values": reference_values, "labels": ab}


def exemplar_descriptor(model: torch.nn.Module) -> Describe:
    """The model's image descriptor: for each RGB image ``(B, 3, H, W)`` in [0, 1], its backbone's deepest level
    (VGG-19's relu5_1) averaged over the image (Sec. 4.1 retrieves references by VGG-19 features)."""
    base = model.axial_exemplar

    @torch.no_grad()
    def describe(rgb: torch.Tensor) -> torch.Tensor:
        taps, _ = base.backbone_features(rgb)
        return taps[-1].mean(dim=(-2, -1))

    return describe


@torch.no_grad()
def colorize_with_reference(
    model: torch.nn.Module, images: list[EvalImage], count: int = 0, references: list[EvalImage] | None = None
) -> list[torch.Tensor]:
    """An exemplar model's uint8 RGB outputs for ``images``, each coloured from its reference: by default the image
    itself (its true colours as the reference, the upper bound of exemplar colorization).

    ``count`` is ignored: it keeps the signature of a :data:`~hf_colorize.evaluation.Colorizer`, so that this serves
    as the family's validation colorizer.
    """
    references = images if references is None else references
    reference_values = torch.stack([normalized_lab(reference) for reference in references])
    return colorize_inputs(model, images, lightness_batch(images), reference_values=reference_values)


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
    """(L, ab) at each level of a prediction pyramid, the lightness average-pooled to its size: what the
    :class:`AxialExemplarDiscriminator` judges."""
    return tuple(torch.cat([level, ab], dim=1) for level, ab in zip(pyramid(lightness, pyramid_ab), pyramid_ab))


TRAINING_FAMILY = TrainingFamily(
    make_inputs=exemplar_model_inputs,
    colorize=colorize_with_reference,
    adversary=Adversary(
        build=AxialExemplarDiscriminator,
        images=lambda batch, outputs: (
            pyramid_lab(batch["pixel_values"], tuple(pyramid(batch["labels"], outputs.pyramid_ab))),
            pyramid_lab(batch["pixel_values"], outputs.pyramid_ab),
        ),
        weight=lambda config: config.adversarial_loss_weight,
        loss="lsgan",
    ),
    references=ReferencePairing(exemplar_descriptor, lambda options: options.reference_proportions),
    validation_setting="each image's own colour picture as the reference",
    options=AxialExemplarTrainingOptions,
)
