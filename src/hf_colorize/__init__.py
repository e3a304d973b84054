"""hf_colorize: image colorization models the Hugging Face way.

Importing the package registers every family with ``AutoConfig`` / ``AutoModel`` / ``AutoModelForImageToImage`` /
``AutoImageProcessor`` (:func:`hf_colorize.models.register_family`) and registers the ``image-colorization``
pipeline task with ``PIPELINE_REGISTRY``, as transformers documents for custom models.
"""

__version__ = "0.1.0"

from .backbones import register_backbones  # noqa: E402
from .bundled import BUNDLED_MODELS, DEFAULT_MODEL  # noqa: E402
from .dataset_colorization import colorize_dataset  # noqa: E402
from .models import REGISTERED_FAMILIES, register_family  # noqa: E402
from .models.axial_exemplar import (  # noqa: E402
    AxialExemplarConfig,
    AxialExemplarForColorization,
    AxialExemplarImageProcessor,
    AxialExemplarModel,
    AxialExemplarPreTrainedModel,
)
from .models.cartoon_coltran import (  # noqa: E402
    CartoonColtranConfig,
    CartoonColtranForColorization,
    CartoonColtranImageProcessor,
    CartoonColtranModel,
    CartoonColtranPreTrainedModel,
)
from .models.dlsa import DlsaConfig, DlsaForColorization, DlsaImageProcessor, DlsaModel, DlsaPreTrainedModel  # noqa: E402
from .models.smsanet import (  # noqa: E402
    SmsanetConfig,
    SmsanetForColorization,
    SmsanetImageProcessor,
    SmsanetModel,
    SmsanetPreTrainedModel,
)
from .pipeline import ImageColorizationPipeline, load_colorization_pipeline, register_pipeline  # noqa: E402
from .video import colorize_video  # noqa: E402

register_backbones()
register_family(DlsaConfig, DlsaModel, DlsaForColorization, DlsaImageProcessor)
register_family(SmsanetConfig, SmsanetModel, SmsanetForColorization, SmsanetImageProcessor)
register_family(AxialExemplarConfig, AxialExemplarModel, AxialExemplarForColorization, AxialExemplarImageProcessor)
register_family(CartoonColtranConfig, CartoonColtranModel, CartoonColtranForColorization, CartoonColtranImageProcessor)
register_pipeline(DEFAULT_MODEL)

__all__ = [
    "BUNDLED_MODELS",
    "DEFAULT_MODEL",
    "REGISTERED_FAMILIES",
    "__version__",
    "register_family",
    "AxialExemplarConfig",
    "AxialExemplarForColorization",
    "AxialExemplarImageProcessor",
    "AxialExemplarModel",
    "AxialExemplarPreTrainedModel",
    "CartoonColtranConfig",
    "CartoonColtranForColorization",
    "CartoonColtranImageProcessor",
    "CartoonColtranModel",
    "CartoonColtranPreTrainedModel",
    "DlsaConfig",
    "DlsaForColorization",
    "DlsaImageProcessor",
    "DlsaModel",
    "DlsaPreTrainedModel",
    "SmsanetConfig",
    "SmsanetForColorization",
    "SmsanetImageProcessor",
    "SmsanetModel",
    "SmsanetPreTrainedModel",
    "ImageColorizationPipeline",
    "load_colorization_pipeline",
    "colorize_video",
    "colorize_dataset",
]
