from ...import_hooks import lazy_attributes

__getattr__, __all__ = lazy_attributes(
    __name__,
    {
        "configuration_cartoon_coltran": ["CartoonColtranConfig"],
        "modeling_cartoon_coltran": [
            "CartoonColtranForColorization",
            "CartoonColtranModel",
            "CartoonColtranPreTrainedModel",
        ],
        "image_processing_cartoon_coltran": ["CartoonColtranImageProcessor"],
    },
)
