"""hf_colorize: image colorization models the Hugging Face way.

Importing the package registers every family with ``AutoConfig`` / ``AutoModel`` /
``AutoModelForImageToImage`` / ``AutoImageProcessor`` and registers the ``image-colorization`` pipeline task.
"""

from pathlib import Path

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageToImage

from .models import (
    AxialExemplarConfig,
    AxialExemplarForColorization,
    AxialExemplarImageProcessor,
    AxialExemplarModel,
    CartoonColtranConfig,
    CartoonColtranForColorization,
    CartoonColtranImageProcessor,
    CartoonColtranModel,
    DlsaConfig,
    DlsaForColorization,
    DlsaImageProcessor,
    DlsaModel,
    SmsanetConfig,
    SmsanetForColorization,
    SmsanetImageProcessor,
    SmsanetModel,
)
from .pipeline import ImageColorizationPipeline, load_colorization_pipeline, register_pipeline

__version__ = "0.1.0"

_WEIGHTS = Path(__file__).parent / "weights"

BUNDLED_MODELS = {folder.name: str(folder) for folder in sorted(_WEIGHTS.iterdir()) if folder.is_dir()}
"""The trained models shipped with the package (fp16 safetensors), by variant name: their folders, which
``from_pretrained`` and ``pipeline(model=...)`` load; the CLI's ``--model`` also takes the names."""

DEFAULT_MODEL = BUNDLED_MODELS["dlsa-tiny"]
"""The bundled default model: a dlsa-tiny trained on the corpus (point hints, or none)."""


_FAMILIES = (
    (DlsaConfig, DlsaModel, DlsaForColorization, DlsaImageProcessor),
    (SmsanetConfig, SmsanetModel, SmsanetForColorization, SmsanetImageProcessor),
    (AxialExemplarConfig, AxialExemplarModel, AxialExemplarForColorization, AxialExemplarImageProcessor),
    (CartoonColtranConfig, CartoonColtranModel, CartoonColtranForColorization, CartoonColtranImageProcessor),
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
    "BUNDLED_MODELS",
    "DEFAULT_MODEL",
    "ImageColorizationPipeline",
    "load_colorization_pipeline",
    "DlsaConfig",
    "DlsaModel",
    "DlsaForColorization",
    "DlsaImageProcessor",
    "SmsanetConfig",
    "SmsanetModel",
    "SmsanetForColorization",
    "SmsanetImageProcessor",
    "AxialExemplarConfig",
    "AxialExemplarModel",
    "AxialExemplarForColorization",
    "AxialExemplarImageProcessor",
    "CartoonColtranConfig",
    "CartoonColtranModel",
    "CartoonColtranForColorization",
    "CartoonColtranImageProcessor",
    "__version__",
]
