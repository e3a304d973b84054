"""The model families registered with transformers, and what each family's classes declare about it.

A family is a folder of ``configuration_*``, ``modeling_*`` and ``image_processing_*`` modules, registered with
:func:`register_family` (one line in ``hf_colorize/__init__.py``). Its traits are attributes of its own classes:
the image processor's ``accepted_requests`` / ``required_requests``, the colorization model's
``onnx_unsupported_reason`` and the config's ``paper`` and ``description``.
"""

from __future__ import annotations

from dataclasses import dataclass

REQUESTS = ("hints", "reference", "samples")
"""The optional requests a family may honour: colour hints, a reference picture, several samples."""


@dataclass(frozen=True)
class Family:
    """A registered family's classes."""

    config: type
    model: type
    colorization_model: type
    image_processor: type

    @property
    def accepted_requests(self) -> frozenset[str]:
        """Which of :data:`REQUESTS` the family honours (its image processor's ``accepted_requests``)."""
        return self.image_processor.accepted_requests

    @property
    def required_requests(self) -> frozenset[str]:
        """Requests it cannot colorize without (an exemplar model needs its reference picture)."""
        return self.image_processor.required_requests

    @property
    def onnx_unsupported_reason(self) -> str | None:
        """Why the model cannot be exported to ONNX; ``None`` when it can."""
        return getattr(self.colorization_model, "onnx_unsupported_reason", None)

    @property
    def paper(self) -> str:
        """The paper the family implements (its config's ``paper``)."""
        return getattr(self.config, "paper", "")

    @property
    def description(self) -> str:
        """What the family does, in one sentence (its config's ``description``)."""
        return getattr(self.config, "description", "")


REGISTERED_FAMILIES: dict[str, Family] = {}
"""Every registered family, by its config's ``model_type``."""


def register_family(config: type, model: type, colorization_model: type, image_processor: type) -> None:
    """Register a family with ``AutoConfig``, ``AutoModel``, ``AutoModelForImageToImage`` and
    ``AutoImageProcessor``, and in :data:`REGISTERED_FAMILIES`."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageToImage

    AutoConfig.register(config.model_type, config, exist_ok=True)
    AutoModel.register(config, model, exist_ok=True)
    AutoModelForImageToImage.register(config, colorization_model, exist_ok=True)
    AutoImageProcessor.register(config, image_processor_classes={"pil": image_processor}, exist_ok=True)
    REGISTERED_FAMILIES[config.model_type] = Family(config, model, colorization_model, image_processor)


def family_capabilities(model_type: str) -> frozenset[str]:
    """The requests a family honours; none for a model type that is not registered."""
    family = REGISTERED_FAMILIES.get(model_type)
    return family.accepted_requests if family is not None else frozenset()


def family_requirements(model_type: str) -> frozenset[str]:
    """The requests a family cannot colorize without; none for a model type that is not registered."""
    family = REGISTERED_FAMILIES.get(model_type)
    return family.required_requests if family is not None else frozenset()


def family_description(model_type: str) -> str:
    """What a family does, in one sentence; a generic sentence for a model type that is not registered."""
    family = REGISTERED_FAMILIES.get(model_type)
    return family.description if family is not None and family.description else "A colorization model."


def families_accepting(request: str) -> list[str]:
    """The registered families that honour ``request``, sorted."""
    return sorted(name for name, family in REGISTERED_FAMILIES.items() if request in family.accepted_requests)


__all__ = [
    "REQUESTS",
    "REGISTERED_FAMILIES",
    "Family",
    "families_accepting",
    "family_capabilities",
    "family_description",
    "family_requirements",
    "register_family",
]
