"""hf_colorize: image colorization models the Hugging Face way.

Importing the package registers every family with ``AutoConfig`` / ``AutoModel`` /
``AutoModelForImageToImage`` / ``AutoImageProcessor`` and registers the ``image-colorization`` pipeline task.
Each registration runs as soon as the transformers modules it needs are imported (before, if they already are:
``import_hooks.when_imported``), and the classes below load on first use, so ``import hf_colorize`` itself
costs almost nothing (``benchmarks/results/speed.md``).
"""

import importlib
from pathlib import Path

from .import_hooks import lazy_attributes, when_imported
from .models import CLASS_KINDS, FAMILIES

__version__ = "0.1.0"

_WEIGHTS = Path(__file__).parent / "weights"

BUNDLED_MODELS = {folder.name: str(folder) for folder in sorted(_WEIGHTS.iterdir()) if folder.is_dir()}
"""The trained models shipped with the package (fp16 safetensors), by variant name: their folders, which
``from_pretrained`` and ``pipeline(model=...)`` load; the CLI's ``--model`` also takes the names."""

DEFAULT_MODEL = BUNDLED_MODELS["dlsa-tiny"]
"""The bundled default model: a dlsa-tiny trained on the corpus (point hints, or none)."""

__getattr__, _lazy_names = lazy_attributes(
    __name__,
    {
        "models": [f"{prefix}{kind}" for prefix in FAMILIES.values() for kind in CLASS_KINDS],
        "pipeline": ["ImageColorizationPipeline", "load_colorization_pipeline"],
        "video": ["colorize_video"],
    },
)


def family_classes(kind: str) -> list[type]:
    """Every family's class of one ``kind`` of ``CLASS_KINDS`` (``"Config"``, ``"Model"``, ...), imported now."""
    models = importlib.import_module(".models", __name__)
    return [getattr(models, f"{prefix}{kind}") for prefix in FAMILIES.values()]


def _register_configs() -> None:
    from transformers.models.auto.configuration_auto import AutoConfig

    for config in family_classes("Config"):
        AutoConfig.register(config.model_type, config, exist_ok=True)


def _register_models() -> None:
    from transformers.models.auto.modeling_auto import AutoModel, AutoModelForImageToImage

    for config, model, colorization_model in zip(*(family_classes(kind) for kind in CLASS_KINDS[:3])):
        AutoModel.register(config, model, exist_ok=True)
        AutoModelForImageToImage.register(config, colorization_model, exist_ok=True)


def _register_image_processors() -> None:
    from transformers.models.auto.image_processing_auto import AutoImageProcessor

    for config, processor in zip(family_classes("Config"), family_classes("ImageProcessor")):
        AutoImageProcessor.register(config, image_processor_classes={"pil": processor}, exist_ok=True)


def _register_pipeline() -> None:
    from .pipeline import register_pipeline

    register_pipeline(DEFAULT_MODEL)


def _family_modules(kind: str) -> list[str]:
    """The package's modules of one kind (``"configuration"``, ``"modeling"``, ``"image_processing"``)."""
    return [f"{__name__}.models.{family}.{kind}_{family}" for family in FAMILIES]


# Each hook also waits for the package's own modules it imports, should one of them be half-way through its import.
_AUTO = "transformers.models.auto."
when_imported(
    [_AUTO + "configuration_auto"],
    _register_configs,
    ["transformers.configuration_utils", *_family_modules("configuration")],
)
when_imported(
    [_AUTO + "modeling_auto"], _register_models, ["transformers.modeling_utils", *_family_modules("modeling")]
)
when_imported(
    [_AUTO + "image_processing_auto"],
    _register_image_processors,
    ["transformers.image_processing_utils", *_family_modules("image_processing")],
)
when_imported(["transformers.pipelines"], _register_pipeline, [f"{__name__}.pipeline"])

__all__ = ["BUNDLED_MODELS", "DEFAULT_MODEL", "family_classes", "__version__", *_lazy_names]
