"""hf_colorize: image colorization models the Hugging Face way.

Importing the package registers every family with ``AutoConfig`` / ``AutoModel`` /
``AutoModelForImageToImage`` / ``AutoImageProcessor`` and registers the ``image-colorization`` pipeline task.
"""

from pathlib import Path

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageToImage

from .models import (
    DlsaConfig,
    DlsaForColorization,
    DlsaImageProcessor,
    DlsaModel,
    SmsanetConfig,
    SmsanetForColorization,
    SmsanetImageProcessor,
    SmsanetModel,
)
from .pipeline import ImageColorizationPipeline, register_pipeline

__version__ = "0.1.0"

DEFAULT_MODEL = str(Path(__file__).parent / "weights" / "dlsa-tiny")
"""The bundled default model: a dlsa-tiny trained on the corpus, shipped as fp16 safetensors."""


_FAMILIES = (
    (DlsaConfig, DlsaModel, DlsaForColorization, DlsaImageProcessor),
    (SmsanetConfig, SmsanetModel, SmsanetForColorization, SmsanetImageProcessor),
)
"""Each family's config, base model, colorization model and image processor."""


def _register() -> None:
    for config, model, colorization_model, image_processor in _FAMILIES:
        AutoConfig.register(config.model_type, config, exist_ok=True)
        AutoModel.register(config, model, exist_ok=True)
        AutoModelForImageToImage.register(config, colorization_model, exist_ok=True)
        AutoImageProcessor.register(config, image_processor_classes={"pil": image_processor}, exist_ok=True)
    register_pipeline(DEFAULT_MODEL)


_register()

__all__ = [
    "DEFAULT_MODEL",
    "ImageColorizationPipeline",
    "DlsaConfig",
    "DlsaModel",
    "DlsaForColorization",
    "DlsaImageProcessor",
    "SmsanetConfig",
    "SmsanetModel",
    "SmsanetForColorization",
    "SmsanetImageProcessor",
    "__version__",
]
