from .configuration_dlsa import DlsaConfig
from .image_processing_dlsa import DlsaImageProcessor
from .modeling_dlsa import DlsaForColorization, DlsaModel, DlsaPreTrainedModel

__all__ = ["DlsaConfig", "DlsaForColorization", "DlsaImageProcessor", "DlsaModel", "DlsaPreTrainedModel"]
