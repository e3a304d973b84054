"""hf_colorize: image colorization models the Hugging Face way.

Importing the package registers every family with ``AutoConfig`` / ``AutoModel`` /
``AutoModelForImageToImage`` / ``AutoImageProcessor`` and registers the ``image-colorization`` pipeline task.
"""

from pathlib import Path

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageToImage

from .models import DlsaConfig, DlsaForColorization, DlsaImageProcessor, DlsaModel
from .pipeline import ImageColorizationPipeline, register_pipeline

__version__ = "0.1.0"

DEFAULT_MODEL = str(Path(__file__).parent / "weights" / "dlsa-tiny")
"""The bundled default model: a dlsa-tiny trained on the corpus, shipped as fp16 safetensors."""


def _register() -> None:
    AutoConfig.register("dlsa", DlsaConfig, exist_ok=True)
    AutoModel.register(DlsaConfig, DlsaModel, exist_ok=True)
    AutoModelForImageToImage.register(DlsaConfig, DlsaForColorization, exist_ok=True)
    AutoImageProcessor.register(DlsaConfig, image_processor_classes={"pil": DlsaImageProcessor}, exist_ok=True)
    register_pipeline(DEFAULT_MODEL)


_register()

__all__ = [
    "DEFAULT_MODEL",
    "ImageColorizationPipeline",
    "DlsaConfig",
    "DlsaModel",
    "DlsaForColorization",
    "DlsaImageProcessor",
    "__version__",
]
