"""PyTorch SMSANet: automatic colorization with stacked multi-scale attention.

Jiang, Xu, Xia, Yang, Huang & Huang, "Stacked multi-scale attention network for image colorization" (paper 004),
on the network of Zhang et al. 2017. Reads top to bottom: outputs -> helpers -> attention -> blocks -> encoder
and decoder -> pretrained base -> SmsanetModel -> head -> SmsanetForColorization.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.backbone_utils import load_backbone
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from ...backbones import lightness_to_backbone_pixels
from ...color import AB_SCALE
from ...modeling_utils import (
    ab_huber_loss,
    check_pixel_values,
    config_default,
    init_batch_norm,
    scale_chroma,
    worse_than_grey_loss,
    zero_image_inputs,
)
from ...saliency import SaliencyFn, spectral_residual_saliency
from .configuration_smsanet import NUM_BLOCKS, NUM_DOWNSAMPLINGS, SmsanetConfig

ENCODER_BLOCKS = range(1, NUM_BLOCKS - NUM_DOWNSAMPLINGS + 1)
"""conv1-conv7: down to 1/8 resolution and on at it."""

DECODER_BLOCKS = range(NUM_BLOCKS - NUM_DOWNSAMPLINGS + 1, NUM_BLOCKS + 1)
"""conv8-conv10: back up to full resolution, one shortcut each."""


@dataclass
class SmsanetModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, channels, height, width)`):
            Features of conv10, at input resolution (of the last decoder block, at half of it, with a backbone).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            The output of each block conv1-conv10 (after SMSA where it refines it), when
            `output_hidden_states=True`; with a backbone, its deepest feature map (after SMSA) and each decoder
            block's output.
    """

    last_hidden_state: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class SmsanetColorizationOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Huber loss (Eq. 5) plus, when `config.use_salient_loss`, `config.salient_loss_weight` times the salient
            loss (Eqs. 6-7), both in CIE ab units, when `labels` are given.
        ab (`torch.FloatTensor` of shape `(batch_size, 2, height, width)`):
            Predicted ab at input resolution, scaled by 1/110: the regression's, mixed with the classification's
            annealed mean by `config.classification_mix`, times the classification's confidence to
            `config.confidence_power`, times `config.chroma_gain`, clipped to [-1, 1].
        color_logits (`torch.FloatTensor` of shape `(batch_size, bins, height / 4, width / 4)`, *optional*):
            With `config.color_bin_size`: the classification head's scores over the `config.num_color_bins ** 2`
            ab bins (a-major).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Block outputs, when `output_hidden_states=True`.
    """

    loss: torch.FloatTensor | None = None
    ab: torch.FloatTensor | None = None
    color_logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


def conv_relu_layers(in_channels: int, out_channels: int, count: int, dilation: int = 1) -> list[nn.Module]:
    """``count`` size-preserving 3x3 convolutions, each followed by a ReLU."""
    layers = []
    for index in range(count):
        channels = in_channels if index == 0 else out_channels
        layers += [nn.Conv2d(channels, out_channels, 3, padding=dilation, dilation=dilation), nn.ReLU()]
    return layers


def subsample(features: torch.Tensor) -> torch.Tensor:
    """Every second pixel: Zhang et al.'s stride-2 downsampling between blocks 1-4."""
    return features[..., ::2, ::2]


def pool_patches(descriptor: torch.Tensor, side: int) -> torch.Tensor:
    """Split (Eq. 1): each ``side x side`` patch of the (channel max, channel mean) map keeps its max and its mean."""
    maximum = F.max_pool2d(descriptor[:, :1], side, ceil_mode=True)
    mean = F.avg_pool2d(descriptor[:, 1:], side, ceil_mode=True)
    return torch.cat([maximum, mean], dim=1)


def salient_loss(ab: torch.Tensor, labels: torch.Tensor, saliency: torch.Tensor) -> torch.Tensor:
    """Eq. 6 with one saliency map ``S`` for truth and prediction (they share L, which cancels): the mean over
    pixels and ab channels of ``S * |ab_true - ab_predicted|``, in CIE ab units."""
    return (saliency * (ab - labels).abs()).mean() * AB_SCALE


def color_bin_centres(config: SmsanetConfig) -> torch.Tensor:
    """The centres of the classification grid along a (and b), scaled by 1/110."""
    size = config.color_bin_size
    return (torch.arange(config.num_color_bins) * size + size / 2 - AB_SCALE) / AB_SCALE


def soft_encoded_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, config: SmsanetConfig) -> torch.Tensor:
    """Cross-entropy of the bin scores against the true ab (scaled by 1/110, averaged to the scores' resolution),
    each pixel soft-encoded onto its four nearest bin centres with bilinear weights (Zhang et al. 2016, Eq. 2)."""
    true_ab = F.adaptive_avg_pool2d(labels, logits.shape[-2:])
    bins = config.num_color_bins
    position = ((true_ab * AB_SCALE + AB_SCALE) / config.color_bin_size - 0.5).clamp(0, bins - 1)
    low = position.floor().clamp(max=bins - 2)
    fraction = position - low
    log_probs = F.log_softmax(logits.float(), dim=1)
    loss = 0
    for a_step in (0, 1):
        for b_step in (0, 1):
            a_weight = fraction[:, 0] if a_step else 1 - fraction[:, 0]
            b_weight = fraction[:, 1] if b_step else 1 - fraction[:, 1]
            index = ((low[:, 0] + a_step) * bins + low[:, 1] + b_step).long()
            loss = loss - a_weight * b_weight * log_probs.gather(1, index[:, None])[:, 0]
    return loss.mean()


def annealed_mean(logits: torch.Tensor, config: SmsanetConfig) -> torch.Tensor:
    """Zhang et al. 2016's annealed mean (Eq. 5): the mean bin centre under ``softmax(logits / T)``, scaled ab."""
    probs = F.softmax(logits.float() / config.annealed_mean_temperature, dim=1)
    bins = config.num_color_bins
    probs = probs.unflatten(1, (bins, bins))
    centres = color_bin_centres(config).to(probs.device)
    a = torch.einsum("nabhw,a->nhw", probs, centres)
    b = torch.einsum("nabhw,b->nhw", probs, centres)
    return torch.stack([a, b], dim=1)


def classification_confidence(logits: torch.Tensor) -> torch.Tensor:
    """``(B, 1, h, w)``: one minus the entropy of ``softmax(logits)`` over the log of the bin count, in [0, 1]."""
    log_probs = F.log_softmax(logits.float(), dim=1)
    entropy = -(log_probs.exp() * log_probs).sum(dim=1, keepdim=True)
    return 1 - entropy / math.log(logits.shape[1])


def upsample_to(maps: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``maps`` resized bilinearly to the height and width of ``reference``, in its dtype."""
    return F.interpolate(maps, size=reference.shape[-2:], mode="bilinear", align_corners=False).to(reference.dtype)


class SmsanetChannelAttention(nn.Module):
    """The channel-scale map A_n (Eq. 2, k = n): global average pooling (V_n, Eq. 1), FC, ReLU, FC, sigmoid."""

    def __init__(self, config: SmsanetConfig, channels: int):
        super().__init__()
        hidden = max(1, channels // config.attention_reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.activation = nn.ReLU()
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = features.mean(dim=(-2, -1))
        return torch.sigmoid(self.fc2(self.activation(self.fc1(pooled))))[..., None, None]


class SmsanetScaleAttention(nn.Module):
    """One spatial-scale map A_k (Eq. 2, k < n): the pooled patches V_k (Eq. 1), a convolution f, a sigmoid, and
    bilinear upsampling (Up) back to the features' size."""

    def __init__(self, config: SmsanetConfig, side: int):
        super().__init__()
        self.side = side
        kernel = config.attention_kernel_size
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, descriptor: torch.Tensor) -> torch.Tensor:
        attention = torch.sigmoid(self.conv(pool_patches(descriptor, self.side)))
        return F.interpolate(attention, size=descriptor.shape[-2:], mode="bilinear", align_corners=False)


class SmsanetMultiScaleAttention(nn.Module):
    """Stacked multi-scale attention (SMSA, Sec. 2.2): the channel map A_n, then spatial maps A_k at several patch
    sides, pooled from the channel-refined features and summed with learnable weights lambda_k (Eq. 3) into A_s,
    refine the features residually, ``F' = F + F * A_n * A_s`` (Eq. 4)."""

    def __init__(self, config: SmsanetConfig, channels: int):
        super().__init__()
        self.channel_attention = SmsanetChannelAttention(config, channels)
        self.scale_attentions = nn.ModuleList([SmsanetScaleAttention(config, side) for side in config.attention_scales])
        self.scale_logits = nn.Parameter(torch.zeros(len(config.attention_scales)))

    @property
    def scale_weights(self) -> torch.Tensor:
        """lambda_k of Eq. 3: a sigmoid keeps each in (0, 1) whatever the optimiser does to ``scale_logits``."""
        return torch.sigmoid(self.scale_logits)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        refined = features * self.channel_attention(features)
        descriptor = torch.cat([refined.amax(dim=1, keepdim=True), refined.mean(dim=1, keepdim=True)], dim=1)  # MAP
        maps = torch.stack([attention(descriptor) for attention in self.scale_attentions])
        spatial = (self.scale_weights.view(-1, 1, 1, 1, 1) * maps).sum(dim=0)  # Eq. 3
        return features + refined * spatial  # Eq. 4


class SmsanetConvBlock(GradientCheckpointingLayer):
    """One of conv1-conv7 (Zhang et al.): 3x3 convolutions, each followed by a ReLU, then batch norm; recomputed in
    the backward pass under gradient checkpointing."""

    def __init__(self, config: SmsanetConfig, number: int):
        super().__init__()
        in_channels = config.num_channels if number == 1 else config.block_channels(number - 1)
        channels = config.block_channels(number)
        depth, dilation = config.block_depths[number - 1], config.dilations[number - 1]
        self.layers = nn.Sequential(*conv_relu_layers(in_channels, channels, depth, dilation), nn.BatchNorm2d(channels))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


class SmsanetUpBlock(GradientCheckpointingLayer):
    """One of conv8-conv10 (Zhang et al.): a 4x4 stride-2 transposed convolution plus a 3x3 convolution of the
    shortcut from the encoder block of the same resolution, a ReLU, 3x3 convolutions with ReLUs, then batch
    norm; the last block (conv10) ends in a leaky ReLU (slope 0.2) instead, straight into the head. Recomputed in
    the backward pass under gradient checkpointing."""

    def __init__(
        self,
        in_channels: int,
        shortcut_channels: int,
        channels: int,
        depth: int,
        dilation: int = 1,
        is_last: bool = False,
    ):
        super().__init__()
        self.upsample = nn.ConvTranspose2d(in_channels, channels, 4, stride=2, padding=1)
        self.shortcut = nn.Conv2d(shortcut_channels, channels, 3, padding=1)
        layers = [nn.ReLU(), *conv_relu_layers(channels, channels, depth - 1, dilation)]
        if is_last:
            layers[-1] = nn.LeakyReLU(0.2)
        else:
            layers.append(nn.BatchNorm2d(channels))
        self.layers = nn.Sequential(*layers)

    @classmethod
    def from_block_number(cls, config: SmsanetConfig, number: int) -> SmsanetUpBlock:
        """conv8, conv9 or conv10 of the base network, its shortcut from conv3, conv2 or conv1."""
        return cls(
            config.block_channels(number - 1),
            config.block_channels(NUM_BLOCKS + 1 - number),
            config.block_channels(number),
            config.block_depths[number - 1],
            config.dilations[number - 1],
            is_last=number == NUM_BLOCKS,
        )

    def forward(self, features: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
        return self.layers(self.upsample(features) + self.shortcut(shortcut))


def build_attention(config: SmsanetConfig, numbers: range) -> nn.ModuleDict:
    """SMSA modules keyed by the number of the block whose output each refines."""
    return nn.ModuleDict(
        {
            str(number): SmsanetMultiScaleAttention(config, config.block_channels(number))
            for number in numbers
            if config.has_attention(number)
        }
    )


def refine(attention: nn.ModuleDict, number: int, features: torch.Tensor) -> torch.Tensor:
    """Block ``number``'s output, refined by its SMSA module if it has one."""
    key = str(number)
    return attention[key](features) if key in attention else features


class SmsanetEncoder(nn.Module):
    """conv1-conv7, the feature extraction module and the attention-refined blocks at 1/8 resolution (Sec. 2.1)."""

    def __init__(self, config: SmsanetConfig):
        super().__init__()
        self.blocks = nn.ModuleList([SmsanetConvBlock(config, number) for number in ENCODER_BLOCKS])
        self.attention = build_attention(config, ENCODER_BLOCKS)

    def forward(self, lightness: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], tuple[torch.Tensor, ...]]:
        """The last block's features, the shortcuts (outputs of the downsampling blocks) and every block's output."""
        features, shortcuts, hidden_states = lightness, [], ()
        for number, block in zip(ENCODER_BLOCKS, self.blocks):
            if 1 < number <= NUM_DOWNSAMPLINGS + 1:
                features = subsample(features)
            features = refine(self.attention, number, block(features))
            if number <= NUM_DOWNSAMPLINGS:
                shortcuts.append(features)
            hidden_states += (features,)
        return features, shortcuts, hidden_states


class SmsanetDecoder(nn.Module):
    """conv8-conv10, the reconstruction module (Sec. 2.1): each block doubles the resolution and takes the
    shortcut of the encoder block at that resolution (conv3, conv2, conv1)."""

    def __init__(self, config: SmsanetConfig):
        super().__init__()
        self.blocks = nn.ModuleList([SmsanetUpBlock.from_block_number(config, number) for number in DECODER_BLOCKS])
        self.attention = build_attention(config, DECODER_BLOCKS)

    def forward(
        self, features: torch.Tensor, shortcuts: list[torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        hidden_states = ()
        for number, block, shortcut in zip(DECODER_BLOCKS, self.blocks, reversed(shortcuts)):
            features = refine(self.attention, number, block(features, shortcut))
            hidden_states += (features,)
        return features, hidden_states


class SmsanetBackboneDecoder(nn.Module):
    """The reconstruction module on a pretrained backbone (``config.backbone_config``): SMSA on the deepest feature
    map, then one conv8-style block per halving up to stride 2, each taking the backbone's map of its resolution as
    the shortcut; SMSA refines the blocks at strides 16 and 8 (see the config)."""

    def __init__(self, config: SmsanetConfig, backbone_channels: list[int]):
        super().__init__()
        *shortcut_channels, deepest = backbone_channels
        in_sizes = [deepest, *config.decoder_hidden_sizes[:-1]]
        self.blocks = nn.ModuleList(
            SmsanetUpBlock(in_size, shortcut, size, config.decoder_depth, is_last=index == len(in_sizes) - 1)
            for index, (in_size, shortcut, size) in enumerate(
                zip(in_sizes, reversed(shortcut_channels), config.decoder_hidden_sizes)
            )
        )
        attended = [deepest, *config.decoder_hidden_sizes[:2]] if config.use_smsa else []
        self.attention = nn.ModuleList(SmsanetMultiScaleAttention(config, channels) for channels in attended)

    def refine(self, index: int, features: torch.Tensor) -> torch.Tensor:
        """The features after SMSA number ``index`` (0: the deepest map), where there is one."""
        return self.attention[index](features) if index < len(self.attention) else features

    def forward(self, feature_maps: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        *shortcuts, features = feature_maps
        features = self.refine(0, features)
        hidden_states = (features,)
        for index, (block, shortcut) in enumerate(zip(self.blocks, reversed(shortcuts)), start=1):
            features = self.refine(index, block(features, shortcut))
            hidden_states += (features,)
        return features, hidden_states


class SmsanetPreTrainedModel(PreTrainedModel):
    config_class = SmsanetConfig
    base_model_prefix = "smsanet"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True

    @property
    def dummy_inputs(self) -> dict[str, torch.Tensor]:
        """Zero inputs of one image at ``config.image_size`` (its lightness): for cost counts."""
        return zero_image_inputs(self.config.image_size, self.device, pixel_values=self.config.num_channels)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (SmsanetRegressionHead, SmsanetClassificationHead)):  # start from grey, ab = 0
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init_batch_norm(module)
        elif isinstance(module, SmsanetMultiScaleAttention):
            nn.init.zeros_(module.scale_logits)


class SmsanetModel(SmsanetPreTrainedModel):
    """The SMSANet body: Zhang et al.'s encoder and decoder with SMSA after the chosen blocks, or with
    ``config.backbone_config`` a pretrained backbone and the decoder that climbs back from it."""

    def __init__(self, config: SmsanetConfig):
        super().__init__(config)
        if config.backbone_config is None:
            self.encoder = SmsanetEncoder(config)
            self.decoder = SmsanetDecoder(config)
        else:
            self.backbone = load_backbone(config)
            self.decoder = SmsanetBackboneDecoder(config, self.backbone.channels)
        self.post_init()

    def get_input_embeddings(self) -> nn.Conv2d:
        """The first layer that reads the input: conv1's first convolution, or the backbone's stem."""
        if self.config.backbone_config is None:
            return self.encoder.blocks[0].layers[0]
        return self.backbone.conv_stem

    def encode_and_decode(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The last decoder features, and every block's output."""
        if self.config.backbone_config is None:
            features, shortcuts, encoder_states = self.encoder(pixel_values)
            last_hidden_state, decoder_states = self.decoder(features, shortcuts)
            return last_hidden_state, encoder_states + decoder_states
        feature_maps = self.backbone(lightness_to_backbone_pixels(pixel_values), return_dict=True).feature_maps
        return self.decoder(feature_maps)

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SmsanetModelOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, 1, height, width)`):
            Lightness scaled to [-1, 1], as made by [`SmsanetImageProcessor`]. Height and width are multiples of
            `config.stride`.
        output_hidden_states, return_dict (`bool`, *optional*):
            Return the block outputs; return a [`SmsanetModelOutput`] rather than a tuple. Each defaults to the
            config's setting.
        """
        check_pixel_values(pixel_values, self.config.num_channels, self.config.stride, "lightness")
        last_hidden_state, states = self.encode_and_decode(pixel_values)
        wants_states = config_default(output_hidden_states, self.config, "output_hidden_states")
        hidden_states = states if wants_states else None
        output = SmsanetModelOutput(last_hidden_state=last_hidden_state, hidden_states=hidden_states)
        return output if config_default(return_dict, self.config, "return_dict") else output.to_tuple()


class SmsanetRegressionHead(nn.Conv2d):
    """Zhang et al.'s ab regression: a 1x1 convolution, then a tanh, giving ab scaled by 1/110."""

    def __init__(self, config: SmsanetConfig):
        super().__init__(config.head_channels, config.num_output_channels, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(super().forward(features))


class SmsanetClassificationHead(nn.Conv2d):
    """Zhang et al. 2016's classification: the last features averaged to a quarter of the input resolution, then a
    1x1 convolution scoring every ab bin (``config.color_bin_size``)."""

    def __init__(self, config: SmsanetConfig):
        super().__init__(config.head_channels, config.num_color_bins**2, kernel_size=1)

    def forward(self, features: torch.Tensor, input_size: torch.Size) -> torch.Tensor:
        quarter = (input_size[0] // 4, input_size[1] // 4)
        return super().forward(F.adaptive_avg_pool2d(features, quarter))


class SmsanetForColorization(SmsanetPreTrainedModel):
    """SMSANet with its regression head: predicts ab for a grey image.

    ``saliency_fn`` gives the saliency map of the salient loss (Eq. 6): any function from model lightness
    ``(B, 1, H, W)`` in [-1, 1] to saliency ``(B, 1, H, W)`` in [0, 1], run without gradients; by default the
    spectral residual (:func:`hf_colorize.saliency.spectral_residual_saliency`) stands in for the paper's PFANet.
    It is an attribute, not part of the config (a function does not serialise): pass it again after loading,
    ``SmsanetForColorization.from_pretrained(path, saliency_fn=fn)``, or set ``model.saliency_fn``. To use a
    saliency network, pass a function that calls it, not the ``nn.Module`` itself, which would become a
    submodule saved and trained with the model.
    """

    def __init__(self, config: SmsanetConfig, saliency_fn: SaliencyFn | None = None):
        super().__init__(config)
        self.smsanet = SmsanetModel(config)
        self.head = SmsanetRegressionHead(config)
        self.classification_head = SmsanetClassificationHead(config) if config.color_bin_size else None
        self.saliency_fn = saliency_fn or spectral_residual_saliency
        self.post_init()

    def saliency(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``saliency_fn`` of the input lightness, checked to be one ``(B, 1, H, W)`` map per image."""
        with torch.no_grad():
            saliency = self.saliency_fn(pixel_values)
        expected = (pixel_values.shape[0], 1, *pixel_values.shape[-2:])
        if tuple(saliency.shape) != expected:
            raise ValueError(f"saliency_fn must return shape {expected}, got {tuple(saliency.shape)}")
        return saliency

    def colorization_loss(self, pixel_values: torch.Tensor, ab: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Huber loss (Eq. 5), colour-rebalanced when ``config.use_color_rebalancing``, plus the weighted salient
        loss (Eq. 7) when ``config.use_salient_loss``, plus the weighted worse-than-grey term when
        ``config.worse_than_grey_weight`` is positive."""
        rebalancing_mix = self.config.rebalancing_uniform_mix if self.config.use_color_rebalancing else None
        loss = ab_huber_loss(ab, labels, self.config.huber_delta, rebalancing_mix)  # Eq. 5
        if self.config.use_salient_loss:
            loss = loss + self.config.salient_loss_weight * salient_loss(ab, labels, self.saliency(pixel_values))
        if self.config.worse_than_grey_weight > 0:
            loss = loss + self.config.worse_than_grey_weight * worse_than_grey_loss(ab, labels)
        return loss

    def mixed_ab(self, ab: torch.Tensor, color_logits: torch.Tensor | None) -> torch.Tensor:
        """The regression's ab, with ``config.classification_mix`` of it replaced by the classification's annealed
        mean, times the classification's confidence to ``config.confidence_power`` (both upsampled bilinearly to the
        regression's size)."""
        mix, power = self.config.classification_mix, self.config.confidence_power
        if color_logits is None:
            return ab
        if mix > 0:
            classified = upsample_to(annealed_mean(color_logits, self.config), ab)
            ab = torch.lerp(ab, classified, mix)
        if power > 0:
            ab = ab * upsample_to(classification_confidence(color_logits), ab).pow(power)
        return ab

    def gained_ab(self, ab: torch.Tensor) -> torch.Tensor:
        """The head's ab times ``config.chroma_gain``, clipped to [-1, 1] (this project's addition, see the config)."""
        if self.config.chroma_gain == 1:
            return ab
        return scale_chroma(ab, self.config.chroma_gain)

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SmsanetColorizationOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, 1, height, width)`):
            Lightness scaled to [-1, 1], see [`SmsanetModel.forward`].
        labels (`torch.FloatTensor` of shape `(batch_size, 2, height, width)`, *optional*):
            True ab scaled by 1/110; when given, the loss of Eq. 7 is returned.
        output_hidden_states, return_dict (`bool`, *optional*):
            See [`SmsanetModel.forward`].
        """
        outputs = self.smsanet(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        ab = self.head(outputs.last_hidden_state)
        if ab.shape[-2:] != pixel_values.shape[-2:]:  # a backbone's decoder stops at stride 2
            ab = upsample_to(ab, pixel_values)
        color_logits = None
        if self.classification_head is not None:
            color_logits = self.classification_head(outputs.last_hidden_state, pixel_values.shape[-2:])
        loss = None
        if labels is not None:
            loss = self.colorization_loss(pixel_values, ab, labels)
            if color_logits is not None:
                cross_entropy = soft_encoded_cross_entropy(color_logits, labels, self.config)
                loss = loss + self.config.classification_loss_weight * cross_entropy
        output = SmsanetColorizationOutput(
            loss=loss,
            ab=self.gained_ab(self.mixed_ab(ab, color_logits)),
            color_logits=color_logits,
            hidden_states=outputs.hidden_states,
        )
        return output if config_default(return_dict, self.config, "return_dict") else output.to_tuple()


__all__ = ["SmsanetModel", "SmsanetForColorization", "SmsanetPreTrainedModel"]
