from .configuration_cartoon_coltran import CartoonColtranConfig
from .modeling_cartoon_coltran import (
    CartoonColtranDiscriminator,
    CartoonColtranForColorization,
    CartoonColtranModel,
    CartoonColtranPreTrainedModel,
)

__all__ = [
    "CartoonColtranConfig",
    "CartoonColtranDiscriminator",
    "CartoonColtranModel",
    "CartoonColtranForColorization",
    "CartoonColtranPreTrainedModel",
]
