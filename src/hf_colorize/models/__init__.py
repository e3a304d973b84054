"""The model families, and what each can do with a request (used to name the right family in errors)."""

from .axial_exemplar import AxialExemplarConfig, AxialExemplarForColorization, AxialExemplarModel
from .axial_exemplar.image_processing_axial_exemplar import AxialExemplarImageProcessor
from .cartoon_coltran import CartoonColtranConfig, CartoonColtranForColorization, CartoonColtranModel
from .cartoon_coltran.image_processing_cartoon_coltran import CartoonColtranImageProcessor
from .dlsa import DlsaConfig, DlsaForColorization, DlsaModel
from .dlsa.image_processing_dlsa import DlsaImageProcessor
from .smsanet import SmsanetConfig, SmsanetForColorization, SmsanetModel
from .smsanet.image_processing_smsanet import SmsanetImageProcessor

FAMILY_CAPABILITIES: dict[str, frozenset[str]] = {
    "dlsa": frozenset({"hints"}),
    "smsanet": frozenset(),
    "axial_exemplar": frozenset({"reference"}),
    "cartoon_coltran": frozenset({"samples"}),
}
"""Which optional requests (``hints``, ``reference``, ``samples``) each registered family honours."""

FAMILY_REQUIREMENTS: dict[str, frozenset[str]] = {"axial_exemplar": frozenset({"reference"})}
"""Requests a family cannot colorize without (an exemplar model needs its reference picture)."""

__all__ = [
    "AxialExemplarConfig",
    "AxialExemplarModel",
    "AxialExemplarForColorization",
    "AxialExemplarImageProcessor",
    "CartoonColtranConfig",
    "CartoonColtranModel",
    "CartoonColtranForColorization",
    "CartoonColtranImageProcessor",
    "DlsaConfig",
    "DlsaModel",
    "DlsaForColorization",
    "DlsaImageProcessor",
    "SmsanetConfig",
    "SmsanetModel",
    "SmsanetForColorization",
    "SmsanetImageProcessor",
    "FAMILY_CAPABILITIES",
    "FAMILY_REQUIREMENTS",
]
