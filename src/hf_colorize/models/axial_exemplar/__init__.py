from .configuration_axial_exemplar import AxialExemplarConfig
from .image_processing_axial_exemplar import AxialExemplarImageProcessor
from .modeling_axial_exemplar import (
    AxialExemplarForColorization,
    AxialExemplarModel,
    AxialExemplarPreTrainedModel,
    load_vgg19_from_hub,
)

__all__ = [
    "AxialExemplarConfig",
    "AxialExemplarForColorization",
    "AxialExemplarImageProcessor",
    "AxialExemplarModel",
    "AxialExemplarPreTrainedModel",
    "load_vgg19_from_hub",
]
