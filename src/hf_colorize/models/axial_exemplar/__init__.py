from .configuration_axial_exemplar import AxialExemplarConfig
from .modeling_axial_exemplar import (
    AxialExemplarForColorization,
    AxialExemplarModel,
    AxialExemplarPreTrainedModel,
    load_vgg19_from_hub,
)

__all__ = [
    "AxialExemplarConfig",
    "AxialExemplarModel",
    "AxialExemplarForColorization",
    "AxialExemplarPreTrainedModel",
    "load_vgg19_from_hub",
]
