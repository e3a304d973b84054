"""Pretrained image encoders the families build on, in transformers' backbone convention (``AutoBackbone``,
``backbone_config``): written here because torchvision and timm do not install beside the pinned CPU torch, with the
parameter names of timm's models so that their Hub weights load as they are."""

from .configuration_efficientnet_lite import EFFICIENTNET_LITE_VARIANTS, EfficientNetLiteConfig
from .modeling_efficientnet_lite import (
    EfficientNetLiteBackbone,
    EfficientNetLiteForImageClassification,
    EfficientNetLitePreTrainedModel,
    lightness_to_backbone_pixels,
)


def register_backbones() -> None:
    """Register EfficientNet-Lite with ``AutoConfig``, ``AutoBackbone`` and ``AutoModelForImageClassification``, so
    that ``load_backbone`` builds it from a model's ``backbone_config``."""
    from transformers import AutoBackbone, AutoConfig, AutoModelForImageClassification

    AutoConfig.register(EfficientNetLiteConfig.model_type, EfficientNetLiteConfig, exist_ok=True)
    AutoBackbone.register(EfficientNetLiteConfig, EfficientNetLiteBackbone, exist_ok=True)
    AutoModelForImageClassification.register(
        EfficientNetLiteConfig, EfficientNetLiteForImageClassification, exist_ok=True
    )


__all__ = [
    "EFFICIENTNET_LITE_VARIANTS",
    "EfficientNetLiteBackbone",
    "EfficientNetLiteConfig",
    "EfficientNetLiteForImageClassification",
    "EfficientNetLitePreTrainedModel",
    "lightness_to_backbone_pixels",
    "register_backbones",
]
