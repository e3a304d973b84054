"""PyTorch DLSA: interactive point-hint colorization with dual local self-attention.

Li, Bao & Qiang, "Interactive image colorization method via dual local self-attention" (paper 000).
Reads top to bottom: outputs -> helpers -> embeddings -> attention -> block -> merging -> stage
-> encoder -> pretrained base -> DlsaModel -> heads -> DlsaForColorization.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from ...backbones.semantic_branch import SemanticBranch, SemanticProjection
from ...filters import lightness_guided_filter
from ...modeling_utils import (
    NO_LAYER_OUTPUTS,
    LayerOutputs,
    ab_huber_loss,
    check_pixel_values,
    config_default,
    log_mse_loss,
    scale_chroma,
    scaled_dot_product_attention,
    tensor_cache,
    worse_than_grey_loss,
    zero_image_inputs,
)
from ...propagation import FADE_WEIGHT, propagate_hints
from .configuration_dlsa import DlsaConfig


@dataclass
class DlsaModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, channels, height / stride, width / stride)`):
            Features of the last stage, channels first.
        fine_hidden_state (`torch.FloatTensor` of shape `(batch_size, channels, height / 4, width / 4)`):
            Features of the first stage (at stride `config.patch_size`, 4 here), channels first: what the fine head
            reads (`config.fine_head_channels`).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Channels-first features after the embeddings and after each stage, when `output_hidden_states`.
        hint_prior (`torch.FloatTensor` of shape `(batch_size, 3, height, width)`, *optional*):
            The edge-aware propagation of the hints (ab scaled by 1/110, then its confidence), when
            `config.hint_propagation` is on.
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            The attention weights of each block's three attention layers in turn, when `output_attentions`; as
            Swin's, per window of each image, `(batch_size * windows, heads, tokens, tokens)`. WSA and SWSA: the
            `window_size**2` tokens of each window of the grid (padded to whole windows, rolled by half a window
            for SWSA), in row order. FWSA: groups of `window_size**2` tokens in order of brightness (group g of an
            image holds the tokens `g * window_size**2` to `(g + 1) * window_size**2 - 1` of
            [`brightness_order`] of its patch lightness).
    """

    last_hidden_state: torch.FloatTensor | None = None
    fine_hidden_state: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    hint_prior: torch.FloatTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class DlsaColorizationOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Huber loss (Eq. 13) between predicted and true ab, in CIE ab units, when `labels` are given.
        ab (`torch.FloatTensor` of shape `(batch_size, 2, height, width)`):
            Predicted ab at input resolution, scaled by 1/110.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Encoder features, when `output_hidden_states`.
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            Attention weights, when `output_attentions`; see [`DlsaModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    ab: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop whole residual branches per sample."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1.0 - drop_prob
    shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep = torch.empty(shape, dtype=hidden_states.dtype, device=hidden_states.device).bernoulli_(keep_prob)
    return hidden_states * keep / keep_prob


def drop_path_rates(max_rate: float, num_blocks: int) -> list[float]:
    """Stochastic depth rates rising linearly from 0 at the first block to ``max_rate`` at the last; plain Python
    floats, so the encoder also builds on the meta device."""
    if num_blocks == 1:
        return [0.0]
    return [max_rate * index / (num_blocks - 1) for index in range(num_blocks)]


def window_partition(tokens: torch.Tensor, window: int) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B * H/window * W/window, window * window, C)``."""
    batch, height, width, channels = tokens.shape
    tokens = tokens.view(batch, height // window, window, width // window, window, channels)
    return tokens.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, channels)


def window_reverse(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`."""
    channels = windows.shape[-1]
    tokens = windows.view(-1, height // window, width // window, window, window, channels)
    return tokens.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, channels)


@tensor_cache
def relative_position_index(window: int, max_window: int) -> torch.Tensor:
    """Index into a ``(2 * max_window - 1) ** 2`` bias table for every token pair of a ``window`` window."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (max_window - 1)
    return relative[..., 0] * (2 * max_window - 1) + relative[..., 1]


@tensor_cache
def window_attention_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor | None:
    """Additive mask ``(num_windows, 1, window**2, window**2)`` for a ``height`` x ``width`` token grid.

    Keeps cyclically shifted regions apart (Swin) and hides the zero tokens that pad the grid to whole
    windows from real queries (padding queries see everything, so no row is fully masked; they are dropped).
    ``None`` when neither applies.
    """
    padded_height, padded_width = height + (-height) % window, width + (-width) % window
    padded = (padded_height, padded_width) != (height, width)
    if not shift and not padded:
        return None
    regions = torch.zeros(1, padded_height, padded_width, 1)
    if shift:
        bands = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
        for label, (rows, cols) in enumerate((r, c) for r in bands for c in bands):
            regions[:, rows, cols, :] = label
    real = torch.zeros(1, padded_height, padded_width, 1, dtype=torch.bool)
    real[:, :height, :width] = True
    real = torch.roll(real, shifts=(-shift, -shift), dims=(1, 2))
    labels = window_partition(regions, window).squeeze(-1)
    real = window_partition(real.float(), window).squeeze(-1).bool()
    hidden = (labels[:, None, :] != labels[:, :, None]) | (real[:, :, None] & ~real[:, None, :])
    return torch.zeros(hidden.shape).masked_fill(hidden, float("-inf")).unsqueeze(1)


class DlsaHintPropagation(nn.Module):
    """Parameter-free: the hints spread along paths that avoid lightness edges
    (:func:`hf_colorize.propagation.propagate_hints`), and a confidence in [0, 1).

    This project's addition (see [`DlsaConfig`]): the confidence is ``w / (1 + w)`` of the summed hint weight
    ``w`` (1 on an isolated hint pixel).
    """

    def __init__(self, config: DlsaConfig):
        super().__init__()
        self.spatial_sigma = config.propagation_spatial_sigma
        self.range_sigma = config.propagation_range_sigma

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        lightness, hint_ab, hint_mask = pixel_values[:, :1], pixel_values[:, 1:3], pixel_values[:, 3:4]
        ab, weight = propagate_hints(lightness, hint_ab, hint_mask, self.spatial_sigma, self.range_sigma)
        return torch.cat([ab, weight / (1 + weight)], dim=1)


class DlsaEmbeddings(nn.Module):
    """Patch embedding of (L, hint a, hint b, hint mask[, propagated a, b, confidence]) with a learned
    position embedding (Sec. 3.1, 3.3)."""

    def __init__(self, config: DlsaConfig):
        super().__init__()
        self.patch_size = config.patch_size
        self.projection = nn.Conv2d(
            config.embedding_channels, config.embed_dim, kernel_size=config.patch_size, stride=config.patch_size
        )
        self.norm = nn.LayerNorm(config.embed_dim, eps=config.layer_norm_eps)
        grid = config.image_size // config.patch_size
        self.position_embeddings = (
            nn.Parameter(torch.zeros(1, config.embed_dim, grid, grid)) if config.use_absolute_embeddings else None
        )
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        embeddings = self.projection(pixel_values)
        if self.position_embeddings is not None:
            position = self.position_embeddings
            if position.shape[-2:] != embeddings.shape[-2:]:
                position = F.interpolate(position, size=embeddings.shape[-2:], mode="bicubic", align_corners=False)
            embeddings = embeddings + position
        return self.dropout(self.norm(embeddings.permute(0, 2, 3, 1)))


class DlsaSelfAttention(nn.Module):
    """Multi-head self-attention inside groups of tokens, with an optional additive bias (Eq. 10)."""

    def __init__(self, config: DlsaConfig, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=config.qkv_bias)
        self.attention_dropout = config.attention_probs_dropout_prob
        self.output = nn.Linear(dim, dim)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        groups: torch.Tensor,
        attention_bias: torch.Tensor | None = None,
        layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS,
    ) -> torch.Tensor:
        """``groups``: ``(num_groups, tokens, dim)``; ``attention_bias`` broadcasts to ``(groups, heads, n, n)``.
        Records the attention weights ``(num_groups, heads, n, n)``."""
        num_groups, tokens, dim = groups.shape
        qkv = self.qkv(groups).view(num_groups, tokens, 3, self.num_heads, dim // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if attention_bias is not None:
            attention_bias = attention_bias.to(query.dtype)
        context = scaled_dot_product_attention(
            query,
            key,
            value,
            bias=attention_bias,
            dropout=self.attention_dropout if self.training else 0.0,
            layer_outputs=layer_outputs,
        )
        # Heads side by side, (groups, tokens, dim); not transpose + reshape, whose view the ONNX exporter rejects.
        context = torch.cat(context.unbind(1), dim=-1)
        return self.output_dropout(self.output(context))


class DlsaWindowAttention(nn.Module):
    """Window (WSA) or shifted-window (SWSA) self-attention with relative position bias (Sec. 3.3)."""

    def __init__(self, config: DlsaConfig, dim: int, num_heads: int, shifted: bool):
        super().__init__()
        self.window_size = config.window_size
        self.shifted = shifted
        self.attention = DlsaSelfAttention(config, dim, num_heads)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * config.window_size - 1) ** 2, num_heads))

    def _relative_position_bias(self, window: int) -> torch.Tensor:
        index = relative_position_index(window, self.window_size).to(self.relative_position_bias_table.device)
        bias = self.relative_position_bias_table[index.view(-1)].view(window * window, window * window, -1)
        return bias.permute(2, 0, 1)

    def forward(self, tokens: torch.Tensor, layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS) -> torch.Tensor:
        """``tokens``: ``(B, H, W, C)``; records the attention weights of each window."""
        batch, height, width, channels = tokens.shape
        # Swin's rule: a grid no larger than a window is one window, and is not shifted.
        window = min(self.window_size, height, width)
        shift = self.window_size // 2 if self.shifted and min(height, width) > self.window_size else 0
        pad_bottom, pad_right = (-height) % window, (-width) % window
        tokens = F.pad(tokens, (0, 0, 0, pad_right, 0, pad_bottom))
        padded_height, padded_width = height + pad_bottom, width + pad_right
        if shift:
            tokens = torch.roll(tokens, shifts=(-shift, -shift), dims=(1, 2))
        windows = window_partition(tokens, window)
        bias = self._relative_position_bias(window).unsqueeze(0)
        mask = window_attention_mask(height, width, window, shift)
        if mask is not None:
            bias = (bias + mask.to(tokens.device)).repeat(batch, 1, 1, 1)
        windows = self.attention(windows, bias, layer_outputs)
        tokens = window_reverse(windows, window, padded_height, padded_width)
        if shift:
            tokens = torch.roll(tokens, shifts=(shift, shift), dims=(1, 2))
        return tokens[:, :height, :width, :].contiguous()


def brightness_order(brightness: torch.Tensor) -> torch.Tensor:
    """Token indices ``(B, N)`` from darkest to brightest, ties in token order.

    ONNX has no stable sort; while exporting, ``topk`` of all tokens stands in for it (ONNX TopK; onnxruntime
    breaks its ties by the lower index, which is the same order).
    """
    if torch.compiler.is_exporting():
        return torch.topk(brightness, brightness.shape[1], dim=1, largest=False, sorted=True).indices
    return torch.argsort(brightness, dim=1, stable=True)


class DlsaFeatureWindowAttention(nn.Module):
    """Feature-space window self-attention (FWSA, Sec. 3.4).

    Tokens are grouped by balanced binary clustering on brightness: at each level a group is split in two
    equal halves by the ratio r_i = s(t_i, c1) / s(t_i, c2) (Eq. 11) with s(t, c) = (N(t) - N(c))^2
    (Eq. 12), until groups hold window_size**2 tokens. With the two centres at the group's darkest and
    brightest tokens, r_i grows monotonically with brightness, so every level's split is a split of the
    brightness order: the K levels equal one sort of the tokens by brightness, cut into equal groups.
    """

    def __init__(self, config: DlsaConfig, dim: int, num_heads: int):
        super().__init__()
        self.group_size = config.window_size**2
        self.attention = DlsaSelfAttention(config, dim, num_heads)

    def forward(
        self, tokens: torch.Tensor, brightness: torch.Tensor, layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS
    ) -> torch.Tensor:
        """``tokens``: ``(B, H, W, C)``; ``brightness``: ``(B, H, W)`` mean lightness of each token's patch. Records
        the attention weights of each group."""
        batch, height, width, channels = tokens.shape
        num_tokens = height * width
        group_size = min(self.group_size, num_tokens)
        order = brightness_order(brightness.reshape(batch, num_tokens))
        sorted_tokens = tokens.reshape(batch, num_tokens, channels).gather(
            1, order.unsqueeze(-1).expand(-1, -1, channels)
        )
        padding = (-num_tokens) % group_size
        bias = None
        if padding:
            sorted_tokens = F.pad(sorted_tokens, (0, 0, 0, padding))
            is_padding = torch.arange(num_tokens + padding, device=tokens.device) >= num_tokens
            key_mask = torch.zeros(is_padding.shape, device=tokens.device).masked_fill(is_padding, float("-inf"))
            bias = key_mask.view(-1, 1, 1, group_size).repeat(batch, 1, 1, 1)
        groups = sorted_tokens.view(-1, group_size, channels)
        groups = self.attention(groups, bias, layer_outputs).view(batch, -1, channels)[:, :num_tokens]
        restored = torch.empty_like(groups).scatter_(1, order.unsqueeze(-1).expand(-1, -1, channels), groups)
        return restored.view(batch, height, width, channels)


class DlsaMlp(nn.Module):
    """Two fully connected layers, C -> rC -> C (Sec. 3.3)."""

    def __init__(self, config: DlsaConfig, dim: int):
        super().__init__()
        hidden = int(dim * config.mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.activation = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.dropout(self.activation(self.fc1(tokens)))))


class DlsaBlock(GradientCheckpointingLayer):
    """Dual local self-attention block, Eqs. 6-9: WSA, SWSA and FWSA, then an MLP, each pre-normed and residual;
    recomputed in the backward pass under gradient checkpointing."""

    def __init__(self, config: DlsaConfig, dim: int, num_heads: int, drop_path_rate: float):
        super().__init__()
        eps = config.layer_norm_eps
        self.window_norm = nn.LayerNorm(dim, eps=eps)
        self.window_attention = DlsaWindowAttention(config, dim, num_heads, shifted=False)
        self.shifted_norm = nn.LayerNorm(dim, eps=eps)
        self.shifted_attention = DlsaWindowAttention(config, dim, num_heads, shifted=True)
        self.feature_norm = nn.LayerNorm(dim, eps=eps)
        self.feature_attention = DlsaFeatureWindowAttention(config, dim, num_heads)
        self.mlp_norm = nn.LayerNorm(dim, eps=eps)
        self.mlp = DlsaMlp(config, dim)
        self.drop_path_rate = drop_path_rate

    def _residual(self, tokens: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
        return tokens + drop_path(branch, self.drop_path_rate, self.training)

    def forward(
        self, tokens: torch.Tensor, brightness: torch.Tensor, layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS
    ) -> torch.Tensor:
        tokens = self._residual(tokens, self.window_attention(self.window_norm(tokens), layer_outputs))  # Eq. 6
        tokens = self._residual(tokens, self.shifted_attention(self.shifted_norm(tokens), layer_outputs))  # Eq. 7
        features = self.feature_attention(self.feature_norm(tokens), brightness, layer_outputs)
        tokens = self._residual(tokens, features)  # Eq. 8
        return self._residual(tokens, self.mlp(self.mlp_norm(tokens)))  # Eq. 9


class DlsaPatchMerging(nn.Module):
    """Concatenate each 2x2 group of tokens, keeping all 4C channels (Sec. 3.2: no Swin 1x1 reduction).

    Only where the config asks for fewer channels does a Swin-style linear reduction follow.
    """

    def __init__(self, config: DlsaConfig, dim: int, out_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim, eps=config.layer_norm_eps)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False) if out_dim != 4 * dim else None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = tokens.shape
        tokens = tokens.view(batch, height // 2, 2, width // 2, 2, channels)
        tokens = tokens.permute(0, 1, 3, 4, 2, 5).reshape(batch, height // 2, width // 2, 4 * channels)
        tokens = self.norm(tokens)
        return tokens if self.reduction is None else self.reduction(tokens)


class DlsaStage(nn.Module):
    """Optional patch merging, the semantic branch's tokens when there is one, then dual local self-attention
    blocks at one resolution."""

    def __init__(self, config: DlsaConfig, stage: int, drop_path_rates: list[float]):
        super().__init__()
        dim = config.stage_channels(stage)
        self.merging = DlsaPatchMerging(config, config.stage_channels(stage - 1), dim) if stage > 0 else None
        self.blocks = nn.ModuleList([DlsaBlock(config, dim, config.num_heads[stage], rate) for rate in drop_path_rates])

    def forward(
        self,
        tokens: torch.Tensor,
        brightness: torch.Tensor,
        semantic: torch.Tensor | None = None,
        layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS,
    ) -> torch.Tensor:
        if self.merging is not None:
            tokens = self.merging(tokens)
        if semantic is not None:
            tokens = tokens + semantic
        for block in self.blocks:
            tokens = block(tokens, brightness, layer_outputs)
        return tokens


class DlsaEncoder(nn.Module):
    """The hierarchical transformer encoder (Sec. 3.2): four stages at strides 4, 8, 16, 32."""

    def __init__(self, config: DlsaConfig):
        super().__init__()
        rates = drop_path_rates(config.drop_path_rate, sum(config.depths))
        starts = [sum(config.depths[:stage]) for stage in range(config.num_stages)]
        self.stages = nn.ModuleList(
            [
                DlsaStage(config, stage, rates[start : start + depth])
                for stage, (start, depth) in enumerate(zip(starts, config.depths))
            ]
        )

    def forward(
        self,
        tokens: torch.Tensor,
        lightness: torch.Tensor,
        semantic: list[torch.Tensor] | None = None,
        layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS,
    ) -> list[torch.Tensor]:
        """``tokens`` ``(B, h, w, C)`` from the embeddings, ``semantic`` the semantic branch's tokens for each stage
        (or ``None``); returns each stage's output tokens, channels last, and records the tokens and each stage's
        output (channels first) and every attention layer's weights."""
        tokens = self.record_channels_first(tokens, layer_outputs)
        semantic = semantic or [None] * len(self.stages)
        stage_outputs = []
        for stage, stage_semantic in zip(self.stages, semantic):
            if stage.merging is not None:
                lightness = F.avg_pool2d(lightness, 2)
            tokens = stage(tokens, lightness[:, 0], stage_semantic, layer_outputs)
            tokens = self.record_channels_first(tokens, layer_outputs)
            stage_outputs.append(tokens)
        return stage_outputs

    @staticmethod
    def record_channels_first(tokens: torch.Tensor, layer_outputs: LayerOutputs) -> torch.Tensor:
        """Record ``(B, h, w, C)`` tokens as a ``(B, C, h, w)`` hidden state, when asked for, and go on from that very
        tensor (views both ways, no copy), so that gradients reach the recorded state."""
        if not layer_outputs.wants_hidden_states:
            return tokens
        state = tokens.permute(0, 3, 1, 2)
        layer_outputs.record_hidden_state(state)
        return state.permute(0, 2, 3, 1)


class DlsaPreTrainedModel(PreTrainedModel):
    config_class = DlsaConfig
    base_model_prefix = "dlsa"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True

    @property
    def dummy_inputs(self) -> dict[str, torch.Tensor]:
        """Zero inputs of one image at ``config.image_size`` (lightness, hint ab, hint mask): for cost counts."""
        return zero_image_inputs(self.config.image_size, self.device, pixel_values=self.config.num_channels)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (SemanticProjection, DlsaFineProjection)):  # a new branch changes nothing until trained
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, DlsaWindowAttention):
            nn.init.trunc_normal_(module.relative_position_bias_table, std=std)
        elif isinstance(module, DlsaEmbeddings) and module.position_embeddings is not None:
            nn.init.trunc_normal_(module.position_embeddings, std=std)


class DlsaModel(DlsaPreTrainedModel):
    """The DLSA encoder: patch embedding and four stages of dual local self-attention."""

    def __init__(self, config: DlsaConfig):
        super().__init__(config)
        self.hint_propagation = DlsaHintPropagation(config) if config.hint_propagation else None
        self.embeddings = DlsaEmbeddings(config)
        # this project's addition: ImageNet features, projected to the channels of the stage at their stride, are
        # added to that stage's tokens
        self.semantic_branch = (
            SemanticBranch(config, [config.stage_channels(stage) for stage in range(config.num_stages)])
            if config.backbone_config is not None
            else None
        )
        self.encoder = DlsaEncoder(config)
        self.layernorm = nn.LayerNorm(config.stage_channels(config.num_stages - 1), eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> nn.Conv2d:
        """The patch embedding's projection, the first layer that reads the input (as Swin's patch embeddings)."""
        return self.embeddings.projection

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> DlsaModelOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, 4, height, width)`):
            Lightness scaled to [-1, 1], hint ab scaled by 1/110 (zero where there is no hint) and the hint
            mask, as made by [`DlsaImageProcessor`]. Height and width are multiples of `config.stride`.
        output_attentions, output_hidden_states, return_dict (`bool`, *optional*):
            Return the attention weights (computed without the fused attention kernel); return the hidden states;
            return a [`DlsaModelOutput`] rather than a tuple. Each defaults to the config's setting.
        """
        check_pixel_values(pixel_values, self.config.num_channels, self.config.stride, "L, hint a, hint b, hint mask")
        layer_outputs = LayerOutputs.requested(self.config, output_attentions, output_hidden_states)
        hint_prior = self.hint_propagation(pixel_values) if self.hint_propagation is not None else None
        tokens = self.embeddings(pixel_values if hint_prior is None else torch.cat([pixel_values, hint_prior], 1))
        patch_lightness = F.avg_pool2d(pixel_values[:, :1], self.config.patch_size)
        semantic = self.semantic_branch(pixel_values[:, :1]) if self.semantic_branch is not None else None
        stage_outputs = self.encoder(tokens, patch_lightness, semantic, layer_outputs)
        output = DlsaModelOutput(
            last_hidden_state=self.layernorm(stage_outputs[-1]).permute(0, 3, 1, 2),
            fine_hidden_state=stage_outputs[0].permute(0, 3, 1, 2),
            hidden_states=layer_outputs.hidden_states,
            hint_prior=hint_prior,
            attentions=layer_outputs.attentions,
        )
        return output if config_default(return_dict, self.config, "return_dict") else output.to_tuple()


class DlsaDUpsamplingHead(nn.Module):
    """Local stabilizing 3x3 convolution, then DUpsampling (Tian et al. 2019) to full-resolution ab.

    DUpsampling is a learned linear map from each token's features to the ``stride x stride`` block of
    output pixels it covers (a 1x1 convolution to ``2 * stride**2`` channels, then a pixel shuffle).
    """

    def __init__(self, config: DlsaConfig):
        super().__init__()
        channels = config.stage_channels(config.num_stages - 1)
        kernel = config.stabilizer_kernel_size
        self.stabilizer = nn.Conv2d(channels, channels, kernel_size=kernel, padding=kernel // 2)
        self.activation = nn.GELU()
        self.reconstruction = nn.Conv2d(channels, config.num_output_channels * config.stride**2, kernel_size=1)
        self.upsample = nn.PixelShuffle(config.stride)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.reconstruction(self.activation(self.stabilizer(features))))


class DlsaFineProjection(nn.Conv2d):
    """The fine head's last convolution, onto ab; zero at initialisation, so a new fine head changes nothing."""


class DlsaFineHead(nn.Module):
    """This project's addition (`config.fine_head_channels`): an ab correction at the first stage's stride from its
    tokens, which hold the hints and the semantic branch's stride-4 maps, upsampled bilinearly to full resolution
    and added to DUpsampling's output. DUpsampling gives each stride-32 token its own 32x32 block; this lets colour
    change within a block where the fine tokens see an object's outline, as the skip connection from the first
    level in Zhang et al. 2017's network does. Layer norm, 3x3 convolution, GELU, 3x3 convolution to ab."""

    def __init__(self, config: DlsaConfig):
        super().__init__()
        channels = config.stage_channels(0)
        self.layernorm = nn.LayerNorm(channels, eps=config.layer_norm_eps)
        self.convolution = nn.Conv2d(channels, config.fine_head_channels, kernel_size=3, padding=1)
        self.activation = nn.GELU()
        self.projection = DlsaFineProjection(
            config.fine_head_channels, config.num_output_channels, kernel_size=3, padding=1
        )

    def forward(self, features: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """ab ``(B, 2, *size)`` from the first stage's channels-first ``features``."""
        features = self.layernorm(features.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        ab = self.projection(self.activation(self.convolution(features)))
        return F.interpolate(ab, size=size, mode="bilinear", align_corners=False)


class DlsaForColorization(DlsaPreTrainedModel):
    """DLSA with its DUpsampling head: predicts ab for a grey image and its point hints."""

    def __init__(self, config: DlsaConfig):
        super().__init__(config)
        self.dlsa = DlsaModel(config)
        self.head = DlsaDUpsamplingHead(config)
        self.fine_head = DlsaFineHead(config) if config.fine_head_channels else None
        self.post_init()

    @staticmethod
    def gate_by_hint_reach(ab: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
        """``hint_reach_gating``: the first half of the batch (with hints) blended into the second (the same images
        without hints) by ``g = w / (w + FADE_WEIGHT)`` of the propagated hint weight ``w``, read back from the
        confidence ``w / (1 + w)`` of the first half."""
        with_hints, without_hints = ab.chunk(2)
        confidence = confidence[: len(with_hints)]
        reach = confidence / (confidence + FADE_WEIGHT * (1 - confidence))
        return without_hints + reach * (with_hints - without_hints)

    def gain_without_hints(self, ab: torch.Tensor, hint_mask: torch.Tensor) -> torch.Tensor:
        """``config.automatic_chroma_gain`` on the ab of each image whose ``hint_mask`` ``(B, 1, H, W)`` is empty;
        images with hints keep the predicted ab."""
        gain = self.config.automatic_chroma_gain
        if gain == 1:
            return ab
        without_hints = (hint_mask.flatten(1).amax(1) == 0).view(-1, 1, 1, 1)
        return torch.where(without_hints, scale_chroma(ab, gain), ab)

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> DlsaColorizationOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, 4, height, width)`):
            Lightness, hint ab and hint mask, see [`DlsaModel.forward`]. The returned ab of an image whose hint mask
            is empty is multiplied by `config.automatic_chroma_gain`.
        labels (`torch.FloatTensor` of shape `(batch_size, 2, height, width)`, *optional*):
            True ab scaled by 1/110; when given, the Huber loss (Eq. 13) on the ab before that gain is returned,
            plus `config.worse_than_grey_weight` times the worse-than-grey term and `config.log_mse_weight` times
            the per-image log-MSE term.
        output_attentions, output_hidden_states, return_dict (`bool`, *optional*):
            See [`DlsaModel.forward`]. With `config.hint_reach_gating` the hidden states and attentions cover
            twice the batch: the images with their hints, then without.
        """
        gated = self.config.hint_reach_gating
        hint_mask = pixel_values[:, 3:4]
        if gated:  # one batch: the inputs as given, then the same lightness without hints
            pixel_values = torch.cat([pixel_values, F.pad(pixel_values[:, :1], (0, 0, 0, 0, 0, 3))])
        outputs = self.dlsa(
            pixel_values,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        ab = self.head(outputs.last_hidden_state)
        if self.fine_head is not None:
            ab = ab + self.fine_head(outputs.fine_hidden_state, ab.shape[-2:])
        ab = lightness_guided_filter(  # joins DUpsampling's blocks (see the config's head_filter_radius)
            ab,
            pixel_values[:, :1],
            self.config.head_filter_radius,
            self.config.head_filter_epsilon,
        )
        if outputs.hint_prior is not None:
            ab = ab + outputs.hint_prior[:, :2]  # the head predicts the residual on the propagated hints
        if gated:
            ab = self.gate_by_hint_reach(ab, outputs.hint_prior[:, 2:])
        loss = None
        if labels is not None:
            loss = ab_huber_loss(ab, labels, self.config.huber_delta)
            if self.config.worse_than_grey_weight > 0:
                loss = loss + self.config.worse_than_grey_weight * worse_than_grey_loss(ab, labels)
            if self.config.log_mse_weight > 0:
                loss = loss + self.config.log_mse_weight * log_mse_loss(ab, labels)
        output = DlsaColorizationOutput(
            loss=loss,
            ab=self.gain_without_hints(ab, hint_mask),
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if config_default(return_dict, self.config, "return_dict") else output.to_tuple()


__all__ = ["DlsaModel", "DlsaForColorization", "DlsaPreTrainedModel"]
