from .configuration_cartoon_coltran import CartoonColtranConfig
from .image_processing_cartoon_coltran import CartoonColtranImageProcessor
from .modeling_cartoon_coltran import (
    CartoonColtranForColorization,
    CartoonColtranModel,
    CartoonColtranPreTrainedModel,
)

__all__ = [
    "CartoonColtranConfig",
    "CartoonColtranForColorization",
    "CartoonColtranImageProcessor",
    "CartoonColtranModel",
    "CartoonColtranPreTrainedModel",
]
