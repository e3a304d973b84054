from ...import_hooks import lazy_attributes

__getattr__, __all__ = lazy_attributes(
    __name__,
    {
        "configuration_smsanet": ["SmsanetConfig"],
        "modeling_smsanet": ["SmsanetForColorization", "SmsanetModel", "SmsanetPreTrainedModel"],
        "image_processing_smsanet": ["SmsanetImageProcessor"],
    },
)
