from .configuration_dlsa import DlsaConfig
from .modeling_dlsa import DlsaForColorization, DlsaModel, DlsaPreTrainedModel

__all__ = ["DlsaConfig", "DlsaModel", "DlsaForColorization", "DlsaPreTrainedModel"]
