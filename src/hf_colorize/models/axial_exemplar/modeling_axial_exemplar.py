"""PyTorch axial-attention exemplar colorization.

Gorriz Blanch, Khalifeh, Smeaton, O'Connor & Mrak, "Attention-based stylisation for exemplar image colourisation"
(paper 002). Reads top to bottom: outputs -> losses -> backbone (VGG-19 and its weight loader; or a pretrained
transformers backbone, ``config.backbone_config``) -> projections ->
axial attention -> decoder -> pretrained base -> AxialExemplarModel -> prediction heads ->
AxialExemplarForColorization.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.backbone_utils import load_backbone
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from ...color import denormalize_ab, denormalize_lightness, lab_to_rgb
from ...filters import lightness_guided_filter
from ...modeling_utils import (
    NO_LAYER_OUTPUTS,
    LayerOutputs,
    check_labels,
    check_pixel_values,
    config_default,
    init_batch_norm,
    zero_image_inputs,
)
from .configuration_axial_exemplar import AxialExemplarConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""The RGB normalisation published VGG-19 weights were trained with."""


@dataclass
class AxialExemplarModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, hidden_size, height, width)`):
            O^1, the last decoder's output, at level 1's resolution (the input's; half of it with a
            `backbone_config`).
        decoder_hidden_states (`tuple(torch.FloatTensor)`):
            O^1, O^2, O^3, O^4: the decoders' outputs from level 1 to level 4 (full to 1/8 resolution).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Each level's features, levels 1 to 5 (full to 1/16 resolution, or 1/2 to 1/32 with a
            `backbone_config`; `hidden_size` channels): the attention
            module's fusion of target and reference at `config.attention_levels`, the target's projected features
            elsewhere; when `output_hidden_states`.
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            The weights of each attention module, in `config.attention_levels` order, when `output_attentions`: its
            height-axis attention, `(batch_size * width, heads, height, height)` (in each column of the level's
            grid, each target position's weights over the reference's positions), then its width-axis attention,
            `(batch_size * height, heads, width, width)` (in each row, over the fused features' positions).
        warped_ab (`torch.FloatTensor` of shape `(batch_size, 2, height, width)`, *optional*):
            The reference's ab warped onto the target by the feature correspondence, at the grid of the first of
            `config.correspondence_levels`, when that is set (see [`warp_reference_ab`]).
    """

    last_hidden_state: torch.FloatTensor | None = None
    decoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    warped_ab: torch.FloatTensor | None = None


@dataclass
class AxialExemplarColorizationOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Eq. 4 without its adversarial term (the trainer adds it): the weighted sum over P1-P4 of the pixel,
            histogram and total variation losses, when `labels` are given.
        ab (`torch.FloatTensor` of shape `(batch_size, 2, height, width)`):
            P1: predicted ab at input resolution (upsampled bilinearly from stride 2 with a `backbone_config`),
            scaled by 1/110; guided-filtered by the lightness when `config.chroma_filter_radius` is set.
        pyramid_ab (`tuple(torch.FloatTensor)`):
            P1, P2, P3, P4: the predictions at levels 1-4 (full, 1/2, 1/4 and 1/8 resolution; each halved with a
            `backbone_config`).
        pixel_loss, histogram_loss, tv_loss (`torch.FloatTensor` of shape `()`, *optional*):
            The unweighted terms, summed over the four levels, when `labels` are given.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            The fused features of each level, see [`AxialExemplarModelOutput`].
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            The axial attention weights, see [`AxialExemplarModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    ab: torch.FloatTensor | None = None
    pyramid_ab: tuple[torch.FloatTensor, ...] | None = None
    pixel_loss: torch.FloatTensor | None = None
    histogram_loss: torch.FloatTensor | None = None
    tv_loss: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


def soft_ab_histogram(ab: torch.Tensor, bins: int) -> torch.Tensor:
    """Differentiable colour histogram (Sec. 3.3, after Xiao et al.): ``(B, bins * bins)``, each row summing to 1.

    ab ``(B, 2, H, W)`` in [-1, 1] is spread over the ``bins`` x ``bins`` grid of bin centres spanning [-1, 1]
    with bilinear weights, so every pixel adds 1 in total and the histogram moves smoothly with the colours.
    """
    spacing = 2 / (bins - 1)
    centres = torch.linspace(-1, 1, bins, device=ab.device, dtype=ab.dtype)
    # (B, 2, H*W, bins): the weight of each bin centre for each pixel along a and along b
    weights = (1 - (ab.flatten(2).clamp(-1, 1).unsqueeze(-1) - centres).abs() / spacing).clamp(min=0)
    joint = torch.einsum("bpi,bpj->bij", weights[:, 0], weights[:, 1])
    return joint.flatten(1) / ab[0, 0].numel()


def histogram_loss(predicted_ab: torch.Tensor, reference_ab: torch.Tensor, bins: int, epsilon: float) -> torch.Tensor:
    """Eq. 3: the symmetric chi-squared distance between the soft histograms, averaged over the batch."""
    predicted, reference = soft_ab_histogram(predicted_ab, bins), soft_ab_histogram(reference_ab, bins)
    return (2 * (predicted - reference) ** 2 / (predicted + reference + epsilon)).sum(dim=1).mean()


def total_variation_loss(ab: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between vertically and horizontally neighbouring ab values (Johnson et al.)."""
    vertical = (ab[..., 1:, :] - ab[..., :-1, :]).pow(2).mean()
    horizontal = (ab[..., :, 1:] - ab[..., :, :-1]).pow(2).mean()
    return vertical + horizontal


def imagenet_normalize(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB ``(B, 3, H, W)`` in [0, 1] normalised as the published VGG-19 weights expect."""
    mean = torch.tensor(IMAGENET_MEAN, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
    return (rgb - mean) / std


def normalized_lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Normalised Lab (L in [-1, 1], ab scaled by 1/110; a target has no ab: grey) as sRGB in [0, 1]."""
    lightness = denormalize_lightness(lab[:, :1])
    ab = denormalize_ab(lab[:, 1:]) if lab.shape[1] == 3 else torch.zeros_like(lightness).expand(-1, 2, -1, -1)
    return lab_to_rgb(torch.cat([lightness, ab], dim=1))


class AxialExemplarVgg19(nn.Module):
    """VGG-19's convolutional part up to relu5_3, laid out as torchvision's and timm's ``features`` (convolution,
    ReLU and max-pool modules in one ``nn.Sequential``), so published VGG-19 weights load by name."""

    def __init__(self, config: AxialExemplarConfig):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        self.level_taps: list[int] = []  # index in ``features`` of each relu{l}_1
        for level, (channels, depth) in enumerate(zip(config.backbone_hidden_sizes, config.backbone_depths), 1):
            if level > 1:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            last = level == config.num_levels
            for index in range(3 if last else depth):  # the last block is read at relu5_3
                layers += [nn.Conv2d(in_channels, channels, kernel_size=3, padding=1), nn.ReLU()]
                in_channels = channels
                if index == 0:
                    self.level_taps.append(len(layers) - 1)
        self.features = nn.Sequential(*layers)

    def forward(self, rgb: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The relu{l}_1 features of the five levels, and relu5_3.

        The convolutions run channels last: oneDNN's channels-first kernels for the 3-channel input sum in an order
        that depends on the batch size (last-bit differences that the attention modules amplify), its channels-last
        ones do not, so an image's features do not depend on the images batched with it."""
        taps, hidden = [], rgb.contiguous(memory_format=torch.channels_last)
        for index, layer in enumerate(self.features):
            hidden = layer(hidden)
            if index in self.level_taps:
                taps.append(hidden)
        return taps, hidden

    def load_vgg19_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
        """Load published VGG-19 weights: any state dict with torchvision's / timm's ``features.N.weight`` and
        ``features.N.bias`` names (a prefix before ``features.`` is ignored). Returns the keys it did not use
        (the classifier, the layers after relu5_3); raises ``ValueError`` naming a missing or misshapen tensor."""
        own = self.state_dict()
        found = {key[key.index("features.") :]: value for key, value in state_dict.items() if "features." in key}
        missing = sorted(set(own) - set(found))
        if missing:
            raise ValueError(f"VGG-19 state dict lacks {', '.join(missing)}: not VGG-19 weights?")
        for key, value in own.items():
            if found[key].shape != value.shape:
                raise ValueError(
                    f"VGG-19 weight {key} has shape {tuple(found[key].shape)}, the backbone {tuple(value.shape)}: "
                    "published weights need backbone_hidden_sizes [64, 128, 256, 512, 512]"
                )
        self.load_state_dict({key: found[key] for key in own})
        return sorted(key for key in state_dict if "features." not in key or key[key.index("features.") :] not in own)


def load_vgg19_from_hub(
    backbone: AxialExemplarVgg19, repo_id: str = "timm/vgg19.tv_in1k", filename: str = "model.safetensors"
) -> list[str]:
    """Download published ImageNet VGG-19 weights (by default timm's copy of torchvision's) and load them into
    ``backbone``; returns the unused keys. Needs the Hub, or the file in the local cache."""
    from huggingface_hub import hf_hub_download
    from safetensors.torch import load_file

    return backbone.load_vgg19_state_dict(load_file(hf_hub_download(repo_id, filename)))


def correspondence_features(taps: list[torch.Tensor], levels: list[int]) -> torch.Tensor:
    """The features of ``levels`` (1-based) resized to the first level's grid, each centred over the image and
    unit-normalised per position, concatenated and normalised again: ``(B, C, h, w)`` in float32."""
    size = taps[levels[0] - 1].shape[-2:]
    parts = []
    for level in levels:
        features = taps[level - 1].float()
        if features.shape[-2:] != size:
            features = F.interpolate(features, size=size, mode="bilinear", align_corners=False)
        parts.append(F.normalize(features - features.mean(dim=(-2, -1), keepdim=True), dim=1))
    return F.normalize(torch.cat(parts, dim=1), dim=1)


def warp_reference_ab(
    target_features: torch.Tensor, reference_features: torch.Tensor, reference_ab: torch.Tensor, temperature: float
) -> torch.Tensor:
    """The reference's ab ``(B, 2, H, W)``, average-pooled to the features' grid, moved onto the target: each target
    position takes the mean of the reference's colours weighted by the softmax of its cosine similarity to every
    reference position over ``temperature`` (He et al. 2018's correspondence): ``(B, 2, h, w)``."""
    batch, _, height, width = target_features.shape
    similarity = target_features.flatten(2).transpose(1, 2) @ reference_features.flatten(2)  # (B, h*w, h'*w')
    pooled_ab = F.adaptive_avg_pool2d(reference_ab.float(), reference_features.shape[-2:]).flatten(2)
    warped = (similarity / temperature).softmax(dim=-1) @ pooled_ab.transpose(1, 2)  # (B, h*w, 2)
    return warped.transpose(1, 2).reshape(batch, 2, height, width)


class AxialExemplarProjection(nn.Sequential):
    """A 1x1 convolution and ReLU onto the ``hidden_size``-dimensional space (Sec. 3.1, [53])."""

    def __init__(self, in_channels: int, hidden_size: int):
        super().__init__(nn.Conv2d(in_channels, hidden_size, kernel_size=1), nn.ReLU())


def relative_index(query_length: int, key_length: int, max_offset: int, device: torch.device) -> torch.Tensor:
    """``(query_length, key_length)`` indices of the offsets ``p - o`` into a table of ``2 max_offset + 1``
    encodings; offsets beyond ``max_offset`` share the last one."""
    offsets = torch.arange(key_length, device=device)[None] - torch.arange(query_length, device=device)[:, None]
    return offsets.clamp(-max_offset, max_offset) + max_offset


class AxialExemplarAxialAttention(nn.Module):
    """Multi-head attention along one axis with query, key and value relative positional encodings (Eq. 2, after
    axial-DeepLab): each position of ``queries`` attends to the positions of ``keys_values`` on its own column
    (``axis="height"``) or row (``axis="width"``); the heads are concatenated and mixed by a 1x1 convolution, applied
    to each line as the linear map it is (oneDNN's convolution of the permuted grid sums in an order that depends on
    the batch size)."""

    def __init__(self, config: AxialExemplarConfig, axis: str):
        super().__init__()
        self.axis = axis
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.max_offset = config.max_relative_position
        self.query = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.key = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.value = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        table = (2 * config.max_relative_position + 1, self.head_size)
        self.query_position = nn.Parameter(torch.zeros(table))  # r^q
        self.key_position = nn.Parameter(torch.zeros(table))  # r^k
        self.value_position = nn.Parameter(torch.zeros(table))  # r^v
        self.output = nn.Conv2d(config.hidden_size, config.hidden_size, kernel_size=1)

    def to_lines(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B * lines, length, C)``: one sequence per column (height axis) or row (width)."""
        lines = features.permute(0, 3, 2, 1) if self.axis == "height" else features.permute(0, 2, 3, 1)
        return lines.reshape(-1, lines.shape[2], lines.shape[3])

    def from_lines(self, lines: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        batch, channels, height, width = shape
        if self.axis == "height":
            return lines.reshape(batch, width, height, channels).permute(0, 3, 2, 1)
        return lines.reshape(batch, height, width, channels).permute(0, 3, 1, 2)

    def split_heads(self, lines: torch.Tensor) -> torch.Tensor:
        return lines.reshape(*lines.shape[:2], self.num_heads, self.head_size).transpose(1, 2)

    def forward(
        self, queries: torch.Tensor, keys_values: torch.Tensor, layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS
    ) -> torch.Tensor:
        """``(B, C, H, W)`` queries and keys / values; records the weights ``(B * lines, heads, length, length)``."""
        query_lines, key_lines = self.to_lines(queries), self.to_lines(keys_values)
        query = self.split_heads(self.query(query_lines))  # (N, heads, Lq, d)
        key = self.split_heads(self.key(key_lines))  # (N, heads, Lk, d)
        value = self.split_heads(self.value(key_lines))
        index = relative_index(query.shape[2], key.shape[2], self.max_offset, queries.device)
        query_position, key_position = self.query_position[index], self.key_position[index]  # (Lq, Lk, d)
        logits = query @ key.transpose(-1, -2)  # q_o k_p
        logits = logits + torch.einsum("nhod,opd->nhop", query, query_position)  # q_o r^q_(p-o)
        logits = logits + torch.einsum("nhpd,opd->nhop", key, key_position)  # k_p r^k_(p-o)
        weights = logits.softmax(dim=-1)
        layer_outputs.record_attention(weights)
        attended = weights @ value + torch.einsum("nhop,opd->nhod", weights, self.value_position[index])
        attended = attended.transpose(1, 2).reshape(query_lines.shape)
        mixed = F.linear(attended, self.output.weight.flatten(1), self.output.bias)  # the 1x1 convolution, per line
        return self.from_lines(mixed, queries.shape)


class AxialExemplarAttentionModule(GradientCheckpointingLayer):
    """Fig. 2: batch norm and ReLU on both sources, height-axis attention of the target into the reference,
    width-axis attention over its result, added to the target's features, ReLU. Recomputed in the backward pass
    under gradient checkpointing."""

    def __init__(self, config: AxialExemplarConfig):
        super().__init__()
        self.target_norm = nn.Sequential(nn.BatchNorm2d(config.hidden_size), nn.ReLU())
        self.reference_norm = nn.Sequential(nn.BatchNorm2d(config.hidden_size), nn.ReLU())
        self.height_attention = AxialExemplarAxialAttention(config, axis="height")
        self.width_attention = AxialExemplarAxialAttention(config, axis="width")

    def forward(
        self, target: torch.Tensor, reference: torch.Tensor, layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS
    ) -> torch.Tensor:
        fused = self.height_attention(self.target_norm(target), self.reference_norm(reference), layer_outputs)
        fused = self.width_attention(fused, fused, layer_outputs)
        return F.relu(target + fused)


class AxialExemplarDecoderLayer(GradientCheckpointingLayer):
    """One pyramid decoder (Sec. 3.1): add the fused features, 3x3 conv + ReLU, x2 upsampling, concatenate the
    projected target features of the finer level, 3x3 conv + ReLU back to ``hidden_size`` channels. Recomputed in
    the backward pass under gradient checkpointing."""

    def __init__(self, config: AxialExemplarConfig):
        super().__init__()
        size = config.hidden_size
        self.conv = nn.Sequential(nn.Conv2d(size, size, kernel_size=3, padding=1), nn.ReLU())
        self.refine = nn.Sequential(nn.Conv2d(2 * size, size, kernel_size=3, padding=1), nn.ReLU())

    def forward(self, previous: torch.Tensor, fused: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        hidden = self.conv(previous + fused)
        hidden = F.interpolate(hidden, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.refine(torch.cat([hidden, skip], dim=1))


class AxialExemplarPreTrainedModel(PreTrainedModel):
    config_class = AxialExemplarConfig
    base_model_prefix = "axial_exemplar"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True

    @property
    def dummy_inputs(self) -> dict[str, torch.Tensor]:
        """Zero inputs of one target and reference at ``config.image_size``: for cost counts."""
        return zero_image_inputs(self.config.image_size, self.device, pixel_values=1, reference_values=3)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, AxialExemplarAbRegression):  # start from grey (ab = 0), in tanh's linear range
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, AxialExemplarAxialAttention):
            for table in (module.query_position, module.key_position, module.value_position):
                nn.init.normal_(table, std=module.head_size**-0.5)
        elif isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init_batch_norm(module)


class AxialExemplarModel(AxialExemplarPreTrainedModel):
    """Backbone, projections, axial attention modules and pyramid decoder: O^1-O^4 from a target and a reference."""

    def __init__(self, config: AxialExemplarConfig):
        super().__init__(config)
        if config.backbone_config is None:
            self.backbone = AxialExemplarVgg19(config)
            self.backbone.requires_grad_(not config.freeze_backbone)
            sizes = config.backbone_hidden_sizes
        else:
            self.backbone = load_backbone(config)
            sizes = self.backbone.channels
        hidden = config.hidden_size
        self.target_projections = nn.ModuleList(AxialExemplarProjection(size, hidden) for size in sizes)
        self.reference_projections = nn.ModuleList(
            AxialExemplarProjection(sizes[level - 1], hidden) for level in config.attention_levels
        )
        self.bottleneck_projection = AxialExemplarProjection(sizes[-1], hidden)  # relu5_3 -> O^5
        self.attention = nn.ModuleDict(
            {str(level): AxialExemplarAttentionModule(config) for level in config.attention_levels}
        )
        self.decoders = nn.ModuleList(AxialExemplarDecoderLayer(config) for _ in range(config.num_levels - 1))
        self.post_init()

    def get_input_embeddings(self) -> nn.Conv2d:
        """The first layer that reads the input: the VGG-19 backbone's conv1_1, or the backbone's stem."""
        if self.config.backbone_config is None:
            return self.backbone.features[0]
        return self.backbone.conv_stem

    def backbone_features(self, rgb: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Each level's backbone features and the bottleneck's for sRGB ``(B, 3, H, W)`` in [0, 1]: VGG-19's
        relu{l}_1 and relu5_3 (ImageNet-normalised input), or a pretrained backbone's feature maps and its deepest
        map again (input scaled to [-1, 1], as EfficientNet-Lite's ImageNet weights expect)."""
        if self.config.backbone_config is None:
            return self.backbone(imagenet_normalize(rgb))
        feature_maps = list(self.backbone(rgb * 2 - 1, return_dict=True).feature_maps)
        return feature_maps, feature_maps[-1]

    def fused_features(
        self,
        target: list[torch.Tensor],
        reference: list[torch.Tensor],
        layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS,
    ) -> list[torch.Tensor]:
        """Per level 1-5: the attention module's fusion of target and reference, or the target's own features."""
        fused = list(target)
        for (level, module), reference_features in zip(self.attention.items(), reference):
            fused[int(level) - 1] = module(target[int(level) - 1], reference_features, layer_outputs)
        return fused

    def forward(
        self,
        pixel_values: torch.Tensor,
        reference_values: torch.Tensor,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> AxialExemplarModelOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, 1, height, width)`):
            Target lightness scaled to [-1, 1], as made by [`AxialExemplarImageProcessor`].
        reference_values (`torch.FloatTensor` of shape `(batch_size, 3, height, width)`):
            Reference in Lab, L scaled to [-1, 1] and ab by 1/110, at the target's size. Sides are multiples of
            `config.stride`.
        output_attentions, output_hidden_states, return_dict (`bool`, *optional*):
            Return the axial attention weights; return each level's fused features; return an
            [`AxialExemplarModelOutput`] rather than a tuple. Each defaults to the config's setting.
        """
        check_pixel_values(pixel_values, 1, self.config.stride, "target lightness")
        check_pixel_values(reference_values, 3, self.config.stride, "reference L, a, b")
        if reference_values.shape[0] != pixel_values.shape[0] or reference_values.shape[-2:] != pixel_values.shape[-2:]:
            raise ValueError(
                f"reference_values {tuple(reference_values.shape)} must match pixel_values {tuple(pixel_values.shape)} "
                "in batch size, height and width; the image processor resizes references to the target's size"
            )
        target_taps, bottleneck = self.backbone_features(normalized_lab_to_rgb(pixel_values))
        reference_taps, _ = self.backbone_features(normalized_lab_to_rgb(reference_values))
        warped_ab = (
            self.warped_reference_ab(target_taps, reference_values) if self.config.correspondence_levels else None
        )
        target = [project(taps) for project, taps in zip(self.target_projections, target_taps)]
        reference = [
            project(reference_taps[level - 1])
            for project, level in zip(self.reference_projections, self.config.attention_levels)
        ]
        layer_outputs = LayerOutputs.requested(self.config, output_attentions, output_hidden_states)
        fused = self.fused_features(target, reference, layer_outputs)
        for features in fused:
            layer_outputs.record_hidden_state(features)
        hidden, states = self.bottleneck_projection(bottleneck), []
        for level, decoder in zip(range(self.config.num_levels - 1, 0, -1), self.decoders):  # levels 4, 3, 2, 1
            hidden = decoder(hidden, fused[level], target[level - 1])
            states.append(hidden)
        output = AxialExemplarModelOutput(
            last_hidden_state=hidden,
            decoder_hidden_states=tuple(reversed(states)),
            hidden_states=layer_outputs.hidden_states,
            attentions=layer_outputs.attentions,
            warped_ab=warped_ab,
        )
        return output if config_default(return_dict, self.config, "return_dict") else output.to_tuple()

    def warped_reference_ab(self, target_taps: list[torch.Tensor], reference_values: torch.Tensor) -> torch.Tensor:
        """The reference's ab warped onto the target (:func:`warp_reference_ab`), matched on the features of both
        pictures' lightness at ``config.correspondence_levels`` (grey against grey: a frozen ImageNet encoder sees
        a colour picture and its grey version differently). In float32, outside autocast: with a temperature of
        0.01, bf16 similarities would round the softmax's logits by a whole unit."""
        levels = self.config.correspondence_levels
        grey_reference_taps, _ = self.backbone_features(normalized_lab_to_rgb(reference_values[:, :1]))
        with torch.autocast(device_type=reference_values.device.type, enabled=False):
            return warp_reference_ab(
                correspondence_features(target_taps, levels),
                correspondence_features(grey_reference_taps, levels),
                reference_values[:, 1:],
                self.config.correspondence_temperature,
            )


class AxialExemplarAbRegression(nn.Conv2d):
    """A prediction head's last layer: a 1x1 convolution and tanh, giving ab scaled by 1/110."""

    def __init__(self, config: AxialExemplarConfig):
        super().__init__(config.prediction_head_size, config.num_output_channels, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(super().forward(features))


class AxialExemplarPredictionHead(nn.Sequential):
    """Sec. 3.1: a 3x3 convolution of ``prediction_head_size`` channels and ReLU, then the ab regression."""

    def __init__(self, config: AxialExemplarConfig):
        super().__init__(
            nn.Conv2d(config.hidden_size, config.prediction_head_size, kernel_size=3, padding=1),
            nn.ReLU(),
            AxialExemplarAbRegression(config),
        )


def resized(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``image`` resized bilinearly to the height and width of ``like``."""
    return F.interpolate(image, size=like.shape[-2:], mode="bilinear", align_corners=False)


def pyramid(image: torch.Tensor, pyramid_ab: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """``image`` average-pooled to the size of each level of a prediction pyramid: the multi-scale truth of
    Sec. 3.3 (the full-size image and its successive 2x poolings when P1 is at input resolution)."""
    return [F.adaptive_avg_pool2d(image, ab.shape[-2:]) for ab in pyramid_ab]


class AxialExemplarForColorization(AxialExemplarPreTrainedModel):
    """The exemplar colorizer with its four prediction heads: ab for a grey target in a reference's colours."""

    def __init__(self, config: AxialExemplarConfig):
        super().__init__(config)
        self.axial_exemplar = AxialExemplarModel(config)
        self.heads = nn.ModuleList(AxialExemplarPredictionHead(config) for _ in range(config.num_levels - 1))
        self.post_init()

    def colorization_losses(
        self, pyramid_ab: tuple[torch.Tensor, ...], labels: torch.Tensor, reference_ab: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eq. 4 without the adversarial term, and its three unweighted terms, each summed over the levels."""
        config = self.config
        pixel = histogram = variation = pyramid_ab[0].new_zeros(())
        for predicted, truth, reference in zip(
            pyramid_ab, pyramid(labels, pyramid_ab), pyramid(reference_ab, pyramid_ab)
        ):
            pixel = pixel + F.smooth_l1_loss(predicted, truth)
            histogram = histogram + histogram_loss(
                predicted, reference, config.histogram_bins, config.histogram_epsilon
            )
            variation = variation + total_variation_loss(predicted)
        total = config.pixel_loss_weight * pixel + config.histogram_loss_weight * histogram
        return total + config.tv_loss_weight * variation, pixel, histogram, variation

    def filtered_ab(self, ab: torch.Tensor, pixel_values: torch.Tensor) -> torch.Tensor:
        """P1 smoothed by the guided filter with the target's lightness (in [0, 1]) as the guide, when
        ``config.chroma_filter_radius`` asks for it (this project's addition, see the config)."""
        return lightness_guided_filter(
            ab, pixel_values, self.config.chroma_filter_radius, self.config.chroma_filter_epsilon
        )

    def forward(
        self,
        pixel_values: torch.Tensor,
        reference_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> AxialExemplarColorizationOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, 1, height, width)`):
            Target lightness, see [`AxialExemplarModel.forward`].
        reference_values (`torch.FloatTensor` of shape `(batch_size, 3, height, width)`):
            Reference Lab, see [`AxialExemplarModel.forward`].
        labels (`torch.FloatTensor` of shape `(batch_size, 2, height, width)`, *optional*):
            The target's true ab scaled by 1/110; when given, the loss of Eq. 4 (without its adversarial term) is
            returned.
        output_attentions, output_hidden_states, return_dict (`bool`, *optional*):
            See [`AxialExemplarModel.forward`].
        """
        outputs = self.axial_exemplar(
            pixel_values,
            reference_values,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        pyramid_ab = tuple(head(state) for head, state in zip(self.heads, outputs.decoder_hidden_states))
        if outputs.warped_ab is not None:  # the heads predict the residual on the warped reference colours
            pyramid_ab = tuple(ab + resized(outputs.warped_ab.to(ab.dtype), ab) for ab in pyramid_ab)
        ab = pyramid_ab[0]
        if ab.shape[-2:] != pixel_values.shape[-2:]:  # a pretrained backbone's finest level is at stride 2
            ab = resized(ab, pixel_values)
        loss = pixel = histogram = variation = None
        if labels is not None:
            check_labels(ab, labels)
            loss, pixel, histogram, variation = self.colorization_losses(pyramid_ab, labels, reference_values[:, 1:])
        output = AxialExemplarColorizationOutput(
            loss=loss,
            ab=self.filtered_ab(ab, pixel_values),
            pyramid_ab=pyramid_ab,
            pixel_loss=pixel,
            histogram_loss=histogram,
            tv_loss=variation,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if config_default(return_dict, self.config, "return_dict") else output.to_tuple()


__all__ = [
    "AxialExemplarModel",
    "AxialExemplarForColorization",
    "AxialExemplarPreTrainedModel",
    "load_vgg19_from_hub",
]
