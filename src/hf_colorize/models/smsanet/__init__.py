from .configuration_smsanet import SmsanetConfig
from .modeling_smsanet import SmsanetForColorization, SmsanetModel, SmsanetPreTrainedModel

__all__ = ["SmsanetConfig", "SmsanetModel", "SmsanetForColorization", "SmsanetPreTrainedModel"]
