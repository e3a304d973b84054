from ...import_hooks import lazy_attributes

__getattr__, __all__ = lazy_attributes(
    __name__,
    {
        "configuration_dlsa": ["DlsaConfig"],
        "modeling_dlsa": ["DlsaForColorization", "DlsaModel", "DlsaPreTrainedModel"],
        "image_processing_dlsa": ["DlsaImageProcessor"],
    },
)
