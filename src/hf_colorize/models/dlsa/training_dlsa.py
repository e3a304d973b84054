"""How the trainer trains dlsa (its recipe, :mod:`hf_colorize.training.recipes`): point hints drawn from the truth
(:func:`hint_model_inputs`, up to ``--max_hints``; a share ``--counterfactual_hints`` of the images recoloured around a
hint first; a share ``--contrast_hints`` with hints where the colour stands out; a share ``--faded_images`` faded
towards grey first), the model's own ab loss, validation
and benchmarks with k hints of the true colour (:func:`colorize_with_hints`).
Training code: only the trainer and the benchmarks import this module."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from ...color import normalize_lightness
from ...evaluation import HINT_COUNTS, EvalImage, colorize_inputs
from ...filters import box_mean
from ...hints import HINT_SIZE, hints_from_ground_truth, sample_hint_positions
from ...propagation import propagate_hints
from ...training.data import lab_targets
from ...training.recipes import TrainingFamily, TrainingOptions, option
from .configuration_dlsa import DlsaConfig

MAX_FADE_FACTOR = 0.5
"""The largest factor ``--faded_images`` scales a picture's true ab by (:func:`hint_model_inputs`)."""


@dataclass(frozen=True)
class DlsaTrainingOptions(TrainingOptions):
    """The hints each training image gets (:func:`hint_model_inputs`)."""

    argument_group: ClassVar[str] = "dlsa (point hints)"

    max_hints: int = option(128, "hints per image: for half the images ~ U(0, max), for the other half geometric")
    without_hints: float = option(
        0.0,
        "share of images given no hint at all before the count is drawn (teaches the picture's own colours, what "
        "a semantic branch adds)",
        metavar="RATE",
    )
    counterfactual_hints: float = option(
        0.0,
        "share of images with hints whose colours are first turned in hue around their first hint, "
        "where the hint reaches (teaches that a hint's colour holds locally, not over the whole picture)",
        metavar="RATE",
    )
    contrast_hints: float = option(
        0.0,
        "share of images with hints whose hint positions are drawn where the true colour stands out from its "
        "surroundings instead of uniformly (teaches that a hint on a small object stays on it)",
        metavar="RATE",
    )
    faded_images: float = option(
        0.0,
        "share of images with hints whose true colours are first faded towards grey by a factor drawn from 0 to "
        f"{MAX_FADE_FACTOR} (teaches that nearly grey hints mean a nearly colourless picture, as old photos are)",
        metavar="RATE",
    )

    def __post_init__(self) -> None:
        for name in ("without_hints", "counterfactual_hints", "contrast_hints", "faded_images"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"--{name} is a share of the images, from 0 to 1; got {getattr(self, name)}")


def sample_hint_count(max_hints: int, without_hints_rate: float = 0.0) -> int:
    """Hints for one training image: none with probability ``without_hints_rate``; else for half the images uniform
    over 0..max_hints (iColoriT), for the other half geometric with p = 1/8 from 0 (Zhang et al. 2017), so the few
    hints users give are learned as often as many."""
    if without_hints_rate > 0 and torch.rand(()) < without_hints_rate:
        return 0
    if torch.rand(()) < 0.5:
        return int(torch.randint(0, max_hints + 1, (1,)))
    return min(max_hints, int(torch.empty(()).geometric_(1 / 8)) - 1)


def sample_contrast_hint_positions(ab: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` distinct top-left corners ``(row, col)`` of hint squares in a true ab image ``(2, H, W)``, each drawn
    with probability proportional to how far the colour there is from the mean colour around it (a box an eighth of
    the shorter side in radius), plus a small floor so that every position stays possible.

    Drawn uniformly, hints mostly fall on the large regions whose colour is the picture's main one, and a model learns
    that one hint tells the whole picture's colour. Drawn this way they often mark a small object whose colour its
    surroundings do not share (the red vest of a canoeist on a lake), where spreading the hint's colour is wrong.
    """
    radius = max(1, min(ab.shape[-2:]) // 8)
    contrast = (ab - box_mean(ab[None], radius)[0]).norm(dim=0)
    corners = contrast[: contrast.shape[0] - HINT_SIZE + 1, : contrast.shape[1] - HINT_SIZE + 1]
    return sample_hint_positions(count, *ab.shape[-2:], weights=corners + 1e-3)


def turn_hue_around_hint(
    lightness: torch.Tensor,
    ab: torch.Tensor,
    position: torch.Tensor,
    angle: float,
    spatial_sigma: float,
    range_sigma: float,
) -> torch.Tensor:
    """True ab ``(2, H, W)`` with the region one hint square reaches turned by ``angle`` (radians) in hue.

    The reach is that of the edge-aware propagation dlsa gets as input (:func:`~hf_colorize.propagation.
    propagate_hints` with the model's sigmas), scaled to 1 at its peak: full at the hint, fading with distance and
    stopping at lightness edges. Each pixel turns by ``angle`` times the reach there, so the hue changes smoothly
    and chroma stays as it was (a linear blend of two hues would pass through grey; a grey region stays grey).
    ``lightness`` ``(1, H, W)`` is normalised; ``position`` is the square's top-left ``(row, col)``.
    """
    row, col = position.tolist()
    hint_mask = torch.zeros_like(lightness)[None]
    hint_mask[..., row : row + HINT_SIZE, col : col + HINT_SIZE] = 1.0
    reach, _ = propagate_hints(lightness[None], torch.ones_like(ab)[None], hint_mask, spatial_sigma, range_sigma)
    reach = (reach[0, 0] / reach[0, 0].amax().clamp_min(1e-6)).clamp(0, 1)
    cos, sin = torch.cos(angle * reach), torch.sin(angle * reach)  # turned by a share of the angle: chroma kept
    return torch.stack([ab[0] * cos - ab[1] * sin, ab[0] * sin + ab[1] * cos])


def hint_model_inputs(
    rgb: torch.Tensor,
    max_hints: int,
    counterfactual_rate: float = 0.0,
    spatial_sigma: float = 0.5,
    range_sigma: float = 0.3,
    contrast_rate: float = 0.0,
    without_hints_rate: float = 0.0,
    faded_rate: float = 0.0,
) -> dict[str, torch.Tensor]:
    """``pixel_values`` (L, hint ab, hint mask) and ``labels`` for a point-hint family, hints from the truth.

    With probability ``without_hints_rate`` an image gets no hint (:func:`sample_hint_count`). With probability
    ``contrast_rate`` an image's hint positions are drawn where its colour stands out from its
    surroundings (:func:`sample_contrast_hint_positions`) instead of uniformly.

    With probability ``counterfactual_rate`` an image with hints is first recoloured around its first hint
    (:func:`turn_hue_around_hint`, a hue turn of 60-300 degrees), and the labels and hints come from that
    recoloured truth. Users give hints of colours the picture did not have; trained on true colours alone, a model
    learns that one hint tells the whole picture's colour cast and spreads it everywhere. The recoloured images
    show it a hint whose colour holds where the hint reaches and says nothing about the rest (this project's
    choice; the papers train on true colours only). The sigmas are the model's propagation sigmas.

    With probability ``faded_rate`` an image with hints first has its true ab scaled by a factor drawn uniformly
    from 0 to :data:`MAX_FADE_FACTOR`, and the labels and hints come from that faded truth. Nearly colourless
    photos (faded prints, toned or washed-out pictures) are rare in the training folders, and a model that has
    seldom seen one reads a nearly grey hint as a grey object in a colourful picture and paints the rest (at one
    hint, `dlsa-lite0` trained without this left three of `photos/test`'s nearly colourless photos 5.4-7.2 dB
    below grey). Only images with hints are faded, since
    without one nothing in the input tells a faded picture (this project's choice).
    """
    lightness, ab = lab_targets(rgb)
    hint_channels, labels = [], []
    for image_lightness, image_ab in zip(lightness, ab):
        count = sample_hint_count(max_hints, without_hints_rate)
        if contrast_rate > 0 and count and torch.rand(()) < contrast_rate:
            positions = sample_contrast_hint_positions(image_ab, count)
        else:
            positions = sample_hint_positions(count, *image_ab.shape[-2:])
        if faded_rate > 0 and len(positions) and torch.rand(()) < faded_rate:
            image_ab = image_ab * float(torch.empty(()).uniform_(0, MAX_FADE_FACTOR))
        if counterfactual_rate > 0 and len(positions) and torch.rand(()) < counterfactual_rate:
            angle = float(torch.empty(()).uniform_(math.pi / 3, 5 * math.pi / 3))
            image_ab = turn_hue_around_hint(image_lightness, image_ab, positions[0], angle, spatial_sigma, range_sigma)
        hint_channels.append(torch.cat(hints_from_ground_truth(image_ab, positions)))
        labels.append(image_ab)
    return {"pixel_values": torch.cat([lightness, torch.stack(hint_channels)], dim=1), "labels": torch.stack(labels)}


def dlsa_inputs(
    rgb: torch.Tensor, options: DlsaTrainingOptions, references: None, config: DlsaConfig
) -> dict[str, torch.Tensor]:
    """:func:`hint_model_inputs` with the family's options and the model's propagation sigmas."""
    return hint_model_inputs(
        rgb,
        options.max_hints,
        options.counterfactual_hints,
        config.propagation_spatial_sigma,
        config.propagation_range_sigma,
        options.contrast_hints,
        options.without_hints,
        options.faded_images,
    )


@torch.no_grad()
def colorize_with_hints(model: torch.nn.Module, images: list[EvalImage], count: int) -> list[torch.Tensor]:
    """A point-hint model's uint8 RGB outputs for ``images`` with ``count`` hints each (the protocol's)."""
    pixel_values = torch.stack(
        [torch.cat([normalize_lightness(image.lab[:1]), *image.hints(count)]) for image in images]
    )
    return colorize_inputs(model, images, pixel_values)


TRAINING_FAMILY = TrainingFamily(
    make_inputs=dlsa_inputs,
    colorize=colorize_with_hints,
    hint_counts=HINT_COUNTS,
    options=DlsaTrainingOptions,
)
