from ...import_hooks import lazy_attributes

__getattr__, __all__ = lazy_attributes(
    __name__,
    {
        "configuration_axial_exemplar": ["AxialExemplarConfig"],
        "modeling_axial_exemplar": [
            "AxialExemplarForColorization",
            "AxialExemplarModel",
            "AxialExemplarPreTrainedModel",
            "load_vgg19_from_hub",
        ],
        "image_processing_axial_exemplar": ["AxialExemplarImageProcessor"],
    },
)
