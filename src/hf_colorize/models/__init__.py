"""The model families, and what each can do with a request (used to name the right family in errors)."""

from ..import_hooks import lazy_attributes

FAMILIES = {
    "dlsa": "Dlsa",
    "smsanet": "Smsanet",
    "axial_exemplar": "AxialExemplar",
    "cartoon_coltran": "CartoonColtran",
}
"""Each family's folder and its classes' name prefix."""

CLASS_KINDS = ("Config", "Model", "ForColorization", "ImageProcessor")
"""The classes every family defines, after its prefix."""

FAMILY_CAPABILITIES: dict[str, frozenset[str]] = {
    "dlsa": frozenset({"hints"}),
    "smsanet": frozenset(),
    "axial_exemplar": frozenset({"reference"}),
    "cartoon_coltran": frozenset({"samples"}),
}
"""Which optional requests (``hints``, ``reference``, ``samples``) each registered family honours."""


def family_capabilities(model_type: str) -> frozenset[str]:
    """The requests a family honours (:data:`FAMILY_CAPABILITIES`); none for a model type it does not know."""
    return FAMILY_CAPABILITIES.get(model_type, frozenset())


FAMILY_REQUIREMENTS: dict[str, frozenset[str]] = {"axial_exemplar": frozenset({"reference"})}
"""Requests a family cannot colorize without (an exemplar model needs its reference picture)."""

__getattr__, _classes = lazy_attributes(
    __name__, {family: [f"{prefix}{kind}" for kind in CLASS_KINDS] for family, prefix in FAMILIES.items()}
)
__all__ = [*_classes, "FAMILIES", "CLASS_KINDS", "FAMILY_CAPABILITIES", "FAMILY_REQUIREMENTS", "family_capabilities"]
