"""What the trainer needs of a family (its recipe), and how the trainer finds it.

A family's recipe lives in its own folder, next to its configuration and modeling modules, in a module named by
convention after its ``model_type``, as transformers names ``modeling_<model_type>``::

    src/hf_colorize/models/dlsa/training_dlsa.py   # TRAINING_FAMILY = TrainingFamily(...)

The trainer finds it from the registered family (:data:`hf_colorize.models.REGISTERED_FAMILIES`): the package of
the family's config class, then ``training_<model_type>`` in it, and that module's ``TRAINING_FAMILY``. So a new
family trains once it has that module in its folder and its one :func:`~hf_colorize.models.register_family` line:
no table keyed by family name is edited anywhere.

A recipe module is training code that happens to live in the family's folder: it imports
:mod:`hf_colorize.training` (this module, the input builders, its discriminator), the modeling module never imports
it, and neither does the family's ``__init__``. Only the trainer imports it, when it trains or builds its
parser, so ``import hf_colorize`` and inference load no training code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..models import REGISTERED_FAMILIES, Family
from .pairs import Describe
from .validation import Colorizer

RECIPE_ATTRIBUTE = "TRAINING_FAMILY"
"""The name of the :class:`TrainingFamily` in a family's ``training_<model_type>`` module."""


def lightness_and_ab(batch: dict[str, torch.Tensor], outputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and generated images for a discriminator: normalised (L, a, b), L from the input's first channel."""
    lightness = batch["pixel_values"][:, :1]
    return torch.cat([lightness, batch["labels"]], dim=1), torch.cat([lightness, outputs.ab], dim=1)


Images = torch.Tensor | tuple[torch.Tensor, ...]
"""What a discriminator judges: one batch of images, or one per scale for a multi-scale discriminator."""


@dataclass(frozen=True)
class Adversary:
    """How an adversarial family trains a discriminator next to its model.

    ``build`` makes the discriminator from the model's config; ``images`` picks the real and the generated
    images out of a batch and the model's outputs (one tensor each, or one tuple of tensors per scale, which the
    discriminator takes whole and answers with one tuple of logits); ``weight`` scales the generator's
    adversarial loss, added to the model's own loss (a number, or a function of the model's config); ``loss`` is
    ``"hinge"``, ``"lsgan"`` (least squares, Mao et al. 2017) or ``"vanilla"`` (the log loss of the original GAN).
    """

    build: Callable[[object], torch.nn.Module]
    images: Callable[[dict[str, torch.Tensor], object], tuple[Images, Images]] = lightness_and_ab
    weight: float | Callable[[object], float] = 0.01
    loss: str = "hinge"

    def generator_weight(self, config) -> float:
        return self.weight(config) if callable(self.weight) else self.weight


@dataclass(frozen=True)
class TrainingFamily:
    """What the trainer needs of a model family beyond its registered classes: its training recipe.

    ``make_inputs`` builds a batch (model inputs and ``labels``) from RGB crops, the training arguments, (for an
    exemplar family) the reference crops, else ``None``, and the model's config; ``colorize`` runs the model on
    protocol images with ``k`` hints for validation; ``hint_counts`` are the ``k`` the evaluation table reports
    ((0,) for automatic families); ``adversary`` is set for GAN families; ``describe_references`` is set for
    exemplar families: it gives the model's image descriptor, which pairs each training image with its nearest
    neighbour (:mod:`hf_colorize.training.pairs`); ``validation_setting`` says in the card what validation gives
    the model, where the hint count does not. A family trained in stages (``--stage``) lists them in ``stages``,
    in training order, each a recipe of its own.

    The model, config and image processor classes are the family's registered ones
    (:class:`hf_colorize.models.Family`), not repeated here.
    """

    make_inputs: Callable[[torch.Tensor, argparse.Namespace, torch.Tensor | None, object], dict[str, torch.Tensor]]
    colorize: Colorizer
    hint_counts: tuple[int, ...] = (0,)
    adversary: Adversary | None = None
    describe_references: Callable[[torch.nn.Module], Describe] | None = None
    validation_setting: str | None = None
    stages: dict[str, TrainingFamily] | None = None


def recipe_module_name(family: Family) -> str | None:
    """``<package of the family's config>.training_<model_type>``; ``None`` for a config outside a package."""
    package = family.config.__module__.rpartition(".")[0]
    return f"{package}.training_{family.config.model_type}" if package else None


def training_family(model_type: str) -> TrainingFamily | None:
    """The recipe of a registered family, imported from its folder; ``None`` when the model type is not registered
    or its folder has no ``training_<model_type>`` module."""
    family = REGISTERED_FAMILIES.get(model_type)
    name = recipe_module_name(family) if family is not None else None
    if name is None or importlib.util.find_spec(name) is None:
        return None
    return getattr(importlib.import_module(name), RECIPE_ATTRIBUTE)


def training_families() -> dict[str, TrainingFamily]:
    """Every registered family that has a recipe, by ``model_type``, sorted: what ``--model_type`` offers."""
    recipes = {model_type: training_family(model_type) for model_type in sorted(REGISTERED_FAMILIES)}
    return {model_type: recipe for model_type, recipe in recipes.items() if recipe is not None}
