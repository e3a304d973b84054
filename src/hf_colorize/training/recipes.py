"""What the trainer needs of a family (its recipe), and how the trainer finds it.

A family's recipe lives in its own folder, next to its configuration and modeling modules, in a module named by
convention after its ``model_type``, as transformers names ``modeling_<model_type>``::

    src/hf_colorize/models/<model_type>/training_<model_type>.py   # TRAINING_FAMILY = TrainingFamily(...)

The trainer finds it from the registered family (:data:`hf_colorize.models.REGISTERED_FAMILIES`): the package of
the family's config class, then ``training_<model_type>`` in it, and that module's ``TRAINING_FAMILY``. So a new
family trains once it has that module in its folder and its one :func:`~hf_colorize.models.register_family` line:
no table keyed by family name is edited anywhere. The module holds all that is the family's own: its options (a
:class:`TrainingOptions` dataclass, which adds its own argument group to the trainer's parser), its input builder, its
evaluation colorizer, and for an exemplar family its image descriptor (:class:`ReferencePairing`).

A recipe module is training code that happens to live in the family's folder: it imports
:mod:`hf_colorize.training` (this module, the Lab targets, its discriminator) and the protocol's shared pieces
(:mod:`hf_colorize.evaluation`); the modeling module never imports it, and neither does the family's ``__init__``.
Only the trainer imports it, when it trains or builds its parser, and the benchmarks, for its colorizer, so
``import hf_colorize`` and inference load no training code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from collections.abc import Callable, Iterable, Sequence
from dataclasses import Field, dataclass, field, fields
from typing import Any, ClassVar

import torch

from ..evaluation import Colorizer
from ..models import REGISTERED_FAMILIES, Family
from .pairs import Describe

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


def option(default: int | float | str | tuple, help: str, metavar: str | tuple[str, ...] | None = None) -> Any:
    """A field of a :class:`TrainingOptions` dataclass: the option ``--<field name>`` with this default and ``--help``
    text. Its type is its default's; a tuple default makes it take that many values."""
    return field(default=default, metadata={"help": help, "metavar": metavar})


def argument(item: Field) -> dict[str, Any]:
    """``add_argument``'s keywords for one :func:`option` field."""
    default, metavar = item.default, item.metadata["metavar"]
    keywords = {"help": item.metadata["help"]} | ({"metavar": metavar} if metavar else {})
    if isinstance(default, tuple):
        return keywords | {"type": type(default[0]), "nargs": len(default), "default": list(default)}
    return keywords | {"type": type(default), "default": default}


@dataclass(frozen=True)
class TrainingOptions:
    """A family's own training options, as a frozen dataclass of :func:`option` fields: each is the trainer's option
    ``--<field name>``, in an argument group of the family's own (``argument_group``). A subclass checks its values in
    ``__post_init__`` and raises ``ValueError`` with one line that names the option. The recipe's ``make_inputs``
    receives an instance, never the trainer's whole namespace. This base class has no option: a family without
    options of its own uses it as it is."""

    argument_group: ClassVar[str] = "family options"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """The options as an argument group of ``parser``; none for a class without fields."""
        if fields(cls):
            group = parser.add_argument_group(cls.argument_group)
            for item in fields(cls):
                group.add_argument(f"--{item.name}", **argument(item))

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> TrainingOptions:
        """The options as parsed (several values as a tuple), checked by ``__post_init__``."""
        values = {item.name: getattr(args, item.name) for item in fields(cls)}
        return cls(**{name: tuple(value) if isinstance(value, list) else value for name, value in values.items()})


@dataclass(frozen=True)
class ReferencePairing:
    """How an exemplar family pairs each training image with a reference picture (:mod:`hf_colorize.training.pairs`):
    ``describe`` gives the model's image descriptor, by which each image's nearest neighbour is found; ``proportions``
    reads from the family's options how often the reference is the image's own picture, its nearest neighbour or any
    other image."""

    describe: Callable[[torch.nn.Module], Describe]
    proportions: Callable[[TrainingOptions], Sequence[float]]


@dataclass(frozen=True)
class TrainingFamily:
    """What the trainer needs of a model family beyond its registered classes: its training recipe.

    ``make_inputs`` builds a batch (model inputs and ``labels``) from RGB crops, the family's options (an instance of
    ``options``, its :class:`TrainingOptions` class), (for an exemplar family) the reference crops, else ``None``,
    and the model's config; ``colorize`` runs the model on protocol images with ``k`` hints, for validation and the
    benchmarks (:data:`hf_colorize.evaluation.Colorizer`); ``hint_counts`` are the ``k`` the evaluation table
    reports ((0,) for automatic families); ``adversary`` is set for GAN families; ``references`` is set for exemplar
    families (:class:`ReferencePairing`); ``validation_setting`` says in the card what validation gives the model,
    where the hint count does not. A family trained in stages (``--stage``) lists them in ``stages``, in training
    order, each a recipe of its own.

    The model, config and image processor classes are the family's registered ones
    (:class:`hf_colorize.models.Family`), not repeated here.
    """

    make_inputs: Callable[[torch.Tensor, TrainingOptions, torch.Tensor | None, object], dict[str, torch.Tensor]]
    colorize: Colorizer
    hint_counts: tuple[int, ...] = (0,)
    adversary: Adversary | None = None
    references: ReferencePairing | None = None
    validation_setting: str | None = None
    stages: dict[str, TrainingFamily] | None = None
    options: type[TrainingOptions] = TrainingOptions


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


def options_classes(families: Iterable[TrainingFamily]) -> list[type[TrainingOptions]]:
    """The options classes of ``families`` and of their stages, each once, in order: the trainer's parser adds each
    one's argument group."""
    recipes = [recipe for family in families for recipe in (family, *(family.stages or {}).values())]
    return list(dict.fromkeys(recipe.options for recipe in recipes))
