from .configuration_smsanet import SmsanetConfig
from .image_processing_smsanet import SmsanetImageProcessor
from .modeling_smsanet import SmsanetForColorization, SmsanetModel, SmsanetPreTrainedModel

__all__ = ["SmsanetConfig", "SmsanetForColorization", "SmsanetImageProcessor", "SmsanetModel", "SmsanetPreTrainedModel"]
