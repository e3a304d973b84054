from .configuration_axial_exemplar import AxialExemplarConfig
from .modeling_axial_exemplar import (
    AxialExemplarDiscriminator,
    AxialExemplarForColorization,
    AxialExemplarModel,
    AxialExemplarPreTrainedModel,
    load_vgg19_from_hub,
)

__all__ = [
    "AxialExemplarDiscriminator",
    "AxialExemplarConfig",
    "AxialExemplarModel",
    "AxialExemplarForColorization",
    "AxialExemplarPreTrainedModel",
    "load_vgg19_from_hub",
]
