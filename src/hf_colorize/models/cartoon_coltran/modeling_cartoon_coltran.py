"""PyTorch two-stage cartoon colorizer: a 3-bit colour transformer at 64x64, then a GAN upgrading network.

Sun, Lin & Zhao, "The colorization based on self-attention mechanism and GAN" (paper 003), with stage 1 after
ColTran (Kumar et al. 2021). Reads top to bottom: outputs -> 3-bit colours -> conditioning -> axial attention ->
transformer blocks -> encoder -> outer and inner decoders -> upgrading network -> pretrained base ->
CartoonColtranModel (stage 1) -> CartoonColtranForColorization (both stages). The discriminator, which only training
needs, is in :mod:`hf_colorize.training.discriminators`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from ...backbones.semantic_branch import SemanticBranch, SemanticProjection
from ...color import normalize_ab, rgb_to_lab
from ...modeling_utils import (
    NO_LAYER_OUTPUTS,
    LayerOutputs,
    check_labels,
    check_pixel_values,
    config_default,
    scaled_dot_product_attention,
    zero_image_inputs,
)
from .configuration_cartoon_coltran import CartoonColtranConfig


@dataclass
class CartoonColtranModelOutput(ModelOutput):
    """
    Args:
        logits (`torch.FloatTensor` of shape `(batch_size, coarse_size, coarse_size, num_colors)`):
            Stage 1's prediction of each pixel's colour given the grey image and the colours before it (raster
            order), P_c of Eq. 7.
        auxiliary_logits (`torch.FloatTensor` of the same shape):
            The prediction from the grey image alone, P~_c of Eq. 7.
        context (`torch.FloatTensor` of shape `(batch_size, coarse_size, coarse_size, hidden_size)`):
            The grayscale encoder's output.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Channels last, `(batch_size, coarse_size, coarse_size, hidden_size)`: the embedded grey pixels, then the
            output of each layer of the encoder, the outer decoder and the inner decoder, in that order; when
            `output_hidden_states`.
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            The weights of each attention layer of the encoder, the outer decoder and the inner decoder, in that
            order, when `output_attentions`: `(batch_size * coarse_size, heads, coarse_size, coarse_size)`, one
            sequence per row (row attention) or per column (column attention); the decoders' masked ones are zero
            above the diagonal.
    """

    logits: torch.FloatTensor | None = None
    auxiliary_logits: torch.FloatTensor | None = None
    context: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class CartoonColtranColorizationOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Stage 1's L_c (Eq. 7) when `color_labels` are given; stage 2's lambda_r x MSE (Eq. 10 without its GAN
            term, which the trainer adds) when `labels` are given with `coarse_colors`.
        ab (`torch.FloatTensor` of shape `(batch_size * num_samples, 2, image_size, image_size)`, *optional*):
            Predicted ab scaled by 1/110: the upgraded coarse colours (stage 2, or both stages in `generate`; the
            samples of an image are consecutive).
        coarse_colors (`torch.LongTensor` of shape `(batch_size * num_samples, coarse_size, coarse_size)`, *optional*):
            Stage 1's colour indices (given, or sampled by `generate`).
        upsampled_ab (`torch.FloatTensor` of the shape of `ab`, *optional*):
            The coarse colours' ab upsampled bilinearly: the interpolation the upgrading network corrects.
        logits, auxiliary_logits (`torch.FloatTensor`, *optional*):
            Stage 1's predictions, see [`CartoonColtranModelOutput`].
        color_loss, auxiliary_loss, mse_loss (`torch.FloatTensor` of shape `()`, *optional*):
            The unweighted terms: -log P_c and -log P~_c per pixel, and the MSE of Eq. 10.
        model_calls (`int`, *optional*):
            From `generate`: the network evaluations it took (1 encoder + one per row + one per pixel).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            When `output_hidden_states`, the layer outputs of what ran: with `color_labels`, stage 1's (see
            [`CartoonColtranModelOutput`]); with `coarse_colors`, the output of each layer of the upgrading network
            (channels first); from `generate`, the embedded grey pixels and each encoder layer's output (the decoders
            run one position at a time, their steps are not kept), then the upgrading network's.
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            When `output_attentions`, the attention weights of what ran: with `color_labels`, stage 1's (see
            [`CartoonColtranModelOutput`]); from `generate`, the encoder's; with `coarse_colors`, none (an empty
            tuple: the upgrading network has no attention).
    """

    loss: torch.FloatTensor | None = None
    ab: torch.FloatTensor | None = None
    coarse_colors: torch.LongTensor | None = None
    upsampled_ab: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    auxiliary_logits: torch.FloatTensor | None = None
    color_loss: torch.FloatTensor | None = None
    auxiliary_loss: torch.FloatTensor | None = None
    mse_loss: torch.FloatTensor | None = None
    model_calls: int | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


def quantize_colors(rgb: torch.Tensor, bits: int) -> torch.Tensor:
    """RGB ``(..., 3, H, W)`` in [0, 1] to colour indices ``(..., H, W)``: ``bits`` per channel, red most significant
    (Sec. III: 8-bit colour reduced to 3-bit)."""
    levels = 2**bits
    channels = (rgb.clamp(0, 1) * levels).long().clamp(max=levels - 1)
    red, green, blue = channels.unbind(dim=-3)
    return (red * levels + green) * levels + blue


def dequantize_colors(indices: torch.Tensor, bits: int) -> torch.Tensor:
    """Colour indices ``(..., H, W)`` to RGB ``(..., 3, H, W)`` in [0, 1], each level's centre."""
    levels = 2**bits
    blue, green, red = indices % levels, indices // levels % levels, indices // levels**2
    return (torch.stack([red, green, blue], dim=-3).float() + 0.5) / levels


def coarse_colors(rgb: torch.Tensor, config: CartoonColtranConfig, grid: int | None = None) -> torch.Tensor:
    """3-bit colour indices ``(B, grid, grid)`` of RGB images ``(B, 3, H, W)``: area-averaged to the grid, then
    quantised (Sec. III: 512x512 8-bit images down to 64x64 3-bit). The default grid keeps stage 2's ratio,
    ``coarse_size`` at ``image_size``, for images of another size."""
    grid = grid or rgb.shape[-1] * config.coarse_size // config.image_size
    return quantize_colors(F.adaptive_avg_pool2d(rgb, grid), config.color_bits)


def coarse_ab(indices: torch.Tensor, bits: int, size: int) -> torch.Tensor:
    """The ab (scaled by 1/110) of coarse colour indices ``(B, h, w)``, upsampled bilinearly to ``size``: what the
    upgrading network and its discriminator read."""
    ab = normalize_ab(rgb_to_lab(dequantize_colors(indices, bits))[:, 1:])
    return F.interpolate(ab, size=(size, size), mode="bilinear", align_corners=False)


class CartoonColtranModulation(nn.Linear):
    """Scale and shift from the context (zero at initialisation)."""


class CartoonColtranConditioning(nn.Module):
    """ColTran's conditioning of a projection on the context: ``y * (1 + scale(c)) + shift(c)``, with ``c`` per
    pixel (conditional attention / MLP) or averaged over the image (conditional layer norm). Starts as identity."""

    def __init__(self, config: CartoonColtranConfig, size: int):
        super().__init__()
        self.modulation = CartoonColtranModulation(config.hidden_size, 2 * size)

    def forward(self, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        scale, shift = self.modulation(context).chunk(2, dim=-1)
        return hidden * (1 + scale) + shift


class CartoonColtranLayerNorm(nn.Module):
    """Layer norm; in the decoders conditional (cLN): its scale and shift come from the image's average context."""

    def __init__(self, config: CartoonColtranConfig, conditional: bool):
        super().__init__()
        self.norm = nn.LayerNorm(config.hidden_size, elementwise_affine=not conditional)
        self.conditioning = CartoonColtranConditioning(config, config.hidden_size) if conditional else None

    def forward(self, hidden: torch.Tensor, summary: torch.Tensor | None) -> torch.Tensor:
        """``hidden`` ``(B, h, w, D)``; ``summary`` ``(B, D)``: the context averaged over the image."""
        normed = self.norm(hidden)
        if self.conditioning is None:
            return normed
        return self.conditioning(normed, summary[:, None, None, :])


class CartoonColtranAxialAttention(nn.Module):
    """Multi-head self-attention along the rows (``axis="row"``: each pixel attends within its row) or columns of a
    ``(B, h, w, D)`` grid (Fig. 4, Eq. 5), optionally masked to earlier positions and conditioned (cAtt).

    With a ``cache`` (a dict kept by the caller), the grid holds only the next positions along a masked axis (one
    row for column attention, one pixel for row attention): their keys and values are appended to the cache and
    the queries attend to everything cached, which gives the masked attention of the whole grid step by step.
    """

    def __init__(self, config: CartoonColtranConfig, axis: str, causal: bool, conditional: bool):
        super().__init__()
        self.axis, self.causal = axis, causal
        self.num_heads = config.num_attention_heads
        self.query_key_value = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.conditioning = CartoonColtranConditioning(config, 3 * config.hidden_size) if conditional else None

    def sequences(self, grid: torch.Tensor) -> torch.Tensor:
        """``(B, h, w, C)`` as ``(B * other axis, heads, length, C / heads)`` along the attention axis."""
        if self.axis == "column":
            grid = grid.transpose(1, 2)
        batch, others, length, channels = grid.shape
        heads = grid.reshape(batch * others, length, self.num_heads, channels // self.num_heads)
        return heads.transpose(1, 2)

    def grid(self, sequences: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """The inverse of :meth:`sequences` for an output of ``shape`` ``(B, h, w, D)``."""
        batch, height, width, channels = shape
        others, length = (width, height) if self.axis == "column" else (height, width)
        grid = sequences.transpose(1, 2).reshape(batch, others, length, channels)
        return grid.transpose(1, 2) if self.axis == "column" else grid

    def forward(
        self,
        hidden: torch.Tensor,
        context: torch.Tensor | None = None,
        cache: dict | None = None,
        layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS,
    ) -> torch.Tensor:
        """``hidden`` ``(B, h, w, D)``; records the weights ``(B * other axis, heads, length, length)``."""
        projected = self.query_key_value(hidden)
        if self.conditioning is not None:
            projected = self.conditioning(projected, context)
        query, key, value = (self.sequences(part) for part in projected.chunk(3, dim=-1))
        causal = self.causal
        if cache is not None and self.causal:
            key = cache["key"] = torch.cat([cache["key"], key], dim=2) if "key" in cache else key
            value = cache["value"] = torch.cat([cache["value"], value], dim=2) if "value" in cache else value
            causal = False  # the cache holds only earlier positions and these
        attended = scaled_dot_product_attention(query, key, value, is_causal=causal, layer_outputs=layer_outputs)
        return self.output(self.grid(attended, hidden.shape))


class CartoonColtranMlp(nn.Module):
    """The block's MLP (Eq. 5), its hidden layer conditioned on the context in the decoders (cMLP)."""

    def __init__(self, config: CartoonColtranConfig, conditional: bool):
        super().__init__()
        self.dense_in = nn.Linear(config.hidden_size, config.intermediate_size)
        self.dense_out = nn.Linear(config.intermediate_size, config.hidden_size)
        self.conditioning = CartoonColtranConditioning(config, config.intermediate_size) if conditional else None

    def forward(self, hidden: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        hidden = self.dense_in(hidden)
        if self.conditioning is not None:
            hidden = self.conditioning(hidden, context)
        return self.dense_out(F.gelu(hidden))


class CartoonColtranBlock(GradientCheckpointingLayer):
    """Eq. 5: x' = MSA(LN(x)) + x, then x'' = MLP(LN(x')) + x', with row or column attention; recomputed in the
    backward pass under gradient checkpointing (teacher-forced training, which keeps no cache)."""

    def __init__(self, config: CartoonColtranConfig, axis: str, causal: bool, conditional: bool):
        super().__init__()
        self.attention_norm = CartoonColtranLayerNorm(config, conditional)
        self.attention = CartoonColtranAxialAttention(config, axis, causal, conditional)
        self.mlp_norm = CartoonColtranLayerNorm(config, conditional)
        self.mlp = CartoonColtranMlp(config, conditional)

    def forward(
        self,
        hidden: torch.Tensor,
        context: torch.Tensor | None = None,
        summary: torch.Tensor | None = None,
        cache: dict | None = None,
        layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS,
    ) -> torch.Tensor:
        hidden = hidden + self.attention(self.attention_norm(hidden, summary), context, cache, layer_outputs)
        return hidden + self.mlp(self.mlp_norm(hidden, summary), context)


class CartoonColtranPositions(nn.Module):
    """Learned row and column embeddings added to a grid (or to the rows / pixels given by their indices)."""

    def __init__(self, config: CartoonColtranConfig):
        super().__init__()
        self.rows = nn.Embedding(config.coarse_size, config.hidden_size)
        self.columns = nn.Embedding(config.coarse_size, config.hidden_size)

    def forward(self, rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """``(1, len(rows), len(columns), D)``."""
        return (self.rows(rows)[:, None, :] + self.columns(columns)[None, :, :])[None]


class CartoonColtranEncoder(nn.Module):
    """The grayscale encoder: the grey pixels embedded, then axial blocks (row, then column attention)."""

    def __init__(self, config: CartoonColtranConfig):
        super().__init__()
        self.embedding = nn.Linear(1, config.hidden_size)
        self.positions = CartoonColtranPositions(config)
        self.layers = nn.ModuleList(
            CartoonColtranBlock(config, axis, causal=False, conditional=False)
            for _ in range(config.encoder_layers)
            for axis in ("row", "column")
        )
        self.norm = nn.LayerNorm(config.hidden_size)

    def forward(
        self,
        lightness: torch.Tensor,
        semantic: torch.Tensor | None = None,
        layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS,
    ) -> torch.Tensor:
        """``(B, 1, h, w)`` lightness in [-1, 1] to the context ``(B, h, w, D)``, with the semantic branch's
        ``(B, h, w, D)`` added to the embedded pixels when given; records the embedded pixels, each layer's output
        and its attention weights."""
        height, width = lightness.shape[-2:]
        hidden = self.embedding(lightness.permute(0, 2, 3, 1))
        hidden = hidden + self.positions(
            torch.arange(height, device=hidden.device), torch.arange(width, device=hidden.device)
        )
        if semantic is not None:
            hidden = hidden + semantic
        layer_outputs.record_hidden_state(hidden)
        for layer in self.layers:
            hidden = layer(hidden, layer_outputs=layer_outputs)
            layer_outputs.record_hidden_state(hidden)
        return self.norm(hidden)


class CartoonColtranDecoder(nn.Module):
    """Blocks conditioned on the context, run over the whole grid or, with ``caches`` (one per layer), over the
    next positions only (a row for the outer decoder, a pixel for the inner one)."""

    layers: nn.ModuleList

    def forward(
        self,
        hidden: torch.Tensor,
        context: torch.Tensor,
        summary: torch.Tensor,
        caches: list[dict] | None = None,
        layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS,
    ) -> torch.Tensor:
        """Records each layer's output and attention weights."""
        for index, layer in enumerate(self.layers):
            hidden = layer(hidden, context, summary, None if caches is None else caches[index], layer_outputs)
            layer_outputs.record_hidden_state(hidden)
        return hidden


class CartoonColtranOuterDecoder(CartoonColtranDecoder):
    """Reads the rows above: colour embeddings shifted down one row, blocks of full row attention and column
    attention masked to earlier rows, conditioned on the context."""

    def __init__(self, config: CartoonColtranConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            CartoonColtranBlock(config, axis, causal=axis == "column", conditional=True)
            for _ in range(config.outer_decoder_layers)
            for axis in ("row", "column")
        )


class CartoonColtranInnerDecoder(CartoonColtranDecoder):
    """Reads the pixels to the left in the row: blocks of row attention masked to earlier pixels, conditioned on
    the context, then a conditional layer norm."""

    def __init__(self, config: CartoonColtranConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            CartoonColtranBlock(config, "row", causal=True, conditional=True)
            for _ in range(config.inner_decoder_layers)
        )
        self.norm = CartoonColtranLayerNorm(config, conditional=True)

    def forward(
        self,
        hidden: torch.Tensor,
        context: torch.Tensor,
        summary: torch.Tensor,
        caches: list[dict] | None = None,
        layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS,
    ) -> torch.Tensor:
        return self.norm(super().forward(hidden, context, summary, caches, layer_outputs), summary)


class CartoonColtranResidualBlock(GradientCheckpointingLayer):
    """The medium layer's block: two 3x3 convolutions with instance norm, and the input added back; recomputed in
    the backward pass under gradient checkpointing."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, padding_mode="reflect"),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, padding_mode="reflect"),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.body(hidden)


def convolution_unit(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """Convolution, instance norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2),
        nn.InstanceNorm2d(out_channels, affine=True),
        nn.ReLU(),
    )


class CartoonColtranUpgradingOutput(nn.Conv2d):
    """The upgrading network's last layer: a 7x7 convolution to the ab correction (zero at initialisation)."""

    def __init__(self, config: CartoonColtranConfig):
        super().__init__(config.upgrader_hidden_sizes[0], config.num_output_channels, kernel_size=7, padding=3)


class CartoonColtranUpgrader(nn.Module):
    """Fig. 5: encoder, medium layer (residual blocks), decoder. Reads the lightness and the upsampled coarse ab,
    returns full-resolution ab: the coarse ab plus a learned correction."""

    def __init__(self, config: CartoonColtranConfig):
        super().__init__()
        sizes = config.upgrader_hidden_sizes
        self.encoder = nn.Sequential(
            convolution_unit(1 + config.num_output_channels, sizes[0], kernel_size=7),
            *(convolution_unit(low, high, kernel_size=3, stride=2) for low, high in zip(sizes, sizes[1:])),
        )
        self.medium = nn.Sequential(
            *(CartoonColtranResidualBlock(sizes[-1]) for _ in range(config.upgrader_residual_blocks))
        )
        self.decoder = nn.Sequential(
            *(
                nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), convolution_unit(high, low, kernel_size=3))
                for high, low in zip(sizes[::-1], sizes[-2::-1])
            ),
            CartoonColtranUpgradingOutput(config),
        )

    def forward(
        self, lightness: torch.Tensor, upsampled_ab: torch.Tensor, layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS
    ) -> torch.Tensor:
        """Records each layer's output, the last being the correction."""
        hidden = torch.cat([lightness, upsampled_ab], dim=1)
        for layer in (*self.encoder, *self.medium, *self.decoder):
            hidden = layer(hidden)
            layer_outputs.record_hidden_state(hidden)
        return (upsampled_ab + hidden).clamp(-1, 1)


class CartoonColtranPreTrainedModel(PreTrainedModel):
    config_class = CartoonColtranConfig
    base_model_prefix = "cartoon_coltran"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True

    @property
    def dummy_inputs(self) -> dict[str, torch.Tensor]:
        """A zero grey image at ``config.image_size``: for cost counts."""
        return zero_image_inputs(self.config.image_size, self.device, pixel_values=1)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (CartoonColtranModulation, CartoonColtranUpgradingOutput, SemanticProjection)):
            # conditioning starts as identity, the upgrader as interpolation, a new semantic branch changes nothing
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.LayerNorm, nn.InstanceNorm2d)) and module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


ColorChooser = Callable[[int, int, torch.Tensor], torch.Tensor]
"""Stage 1's decoding loop asks it for the colours ``(N,)`` of pixel (row, column) from their logits ``(N, C)``."""


class CartoonColtranModel(CartoonColtranPreTrainedModel):
    """Stage 1, the colour transformer: logits over the 3-bit colours of each pixel of the coarse grid."""

    def __init__(self, config: CartoonColtranConfig):
        super().__init__(config)
        self.encoder = CartoonColtranEncoder(config)
        self.semantic_branch = (
            SemanticBranch(config, [config.hidden_size] * len(config.backbone_config.out_features))
            if config.backbone_config is not None
            else None
        )
        self.color_embedding = nn.Embedding(config.num_colors, config.hidden_size)
        self.positions = CartoonColtranPositions(config)
        self.outer_decoder = CartoonColtranOuterDecoder(config)
        self.inner_decoder = CartoonColtranInnerDecoder(config)
        self.head = nn.Linear(config.hidden_size, config.num_colors)
        self.auxiliary_norm = nn.LayerNorm(config.hidden_size)
        self.auxiliary_head = nn.Linear(config.hidden_size, config.num_colors)
        self.post_init()

    def get_input_embeddings(self) -> nn.Linear:
        """The first layer that reads the input: the grayscale encoder's embedding of the grey pixels."""
        return self.encoder.embedding

    def encode(self, pixel_values: torch.Tensor, layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS) -> torch.Tensor:
        """The context ``(B, coarse_size, coarse_size, D)``: the grayscale encoder on the lightness averaged down to
        the coarse grid (unchanged at that size), with the semantic branch's maps, when there is one, resized
        bilinearly to the grid and summed into its embedded pixels."""
        size = self.config.coarse_size
        semantic = None
        if self.semantic_branch is not None:
            maps = (features.permute(0, 3, 1, 2) for features in self.semantic_branch(pixel_values))
            resized = (
                F.interpolate(features, size=(size, size), mode="bilinear", align_corners=False) for features in maps
            )
            semantic = sum(resized).permute(0, 2, 3, 1)
        return self.encoder(F.adaptive_avg_pool2d(pixel_values, size), semantic, layer_outputs)

    def forward(
        self,
        pixel_values: torch.Tensor,
        color_labels: torch.Tensor,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> CartoonColtranModelOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, 1, height, width)`):
            Lightness scaled to [-1, 1], square, a multiple of `config.coarse_size` (averaged down to it).
        color_labels (`torch.LongTensor` of shape `(batch_size, coarse_size, coarse_size)`):
            The colours the decoders read (teacher forcing): the true 3-bit colours in training.
        output_attentions, output_hidden_states, return_dict (`bool`, *optional*):
            Return every attention layer's weights (computed without the fused attention kernel); return every
            layer's output; return a [`CartoonColtranModelOutput`] rather than a tuple. Each defaults to the
            config's setting.
        """
        layer_outputs = LayerOutputs.requested(self.config, output_attentions, output_hidden_states)
        context = self.encode(pixel_values, layer_outputs)
        summary = context.mean(dim=(1, 2))
        size = self.config.coarse_size
        if color_labels.shape != (pixel_values.shape[0], size, size):
            raise ValueError(
                f"color_labels must be (batch, {size}, {size}) colour indices, got {tuple(color_labels.shape)}"
            )
        embedded = self.color_embedding(color_labels)
        positions = self.positions(torch.arange(size, device=context.device), torch.arange(size, device=context.device))
        above = F.pad(embedded, (0, 0, 0, 0, 1, 0))[:, :-1] + positions  # row i reads rows < i
        outer = self.outer_decoder(above, context, summary, layer_outputs=layer_outputs)
        left = F.pad(embedded, (0, 0, 1, 0))[:, :, :-1]  # pixel j reads pixels < j of its row
        logits = self.head(self.inner_decoder(left + outer + context, context, summary, layer_outputs=layer_outputs))
        output = CartoonColtranModelOutput(
            logits=logits,
            auxiliary_logits=self.auxiliary_head(self.auxiliary_norm(context)),
            context=context,
            hidden_states=layer_outputs.hidden_states,
            attentions=layer_outputs.attentions,
        )
        return output if config_default(return_dict, self.config, "return_dict") else output.to_tuple()

    @torch.no_grad()
    def decode(self, context: torch.Tensor, choose: ColorChooser) -> tuple[torch.Tensor, int]:
        """Colour the grid row by row, pixel by pixel, with ``choose`` picking each pixel's colour from its logits.
        The outer decoder runs once per row and the inner decoder once per pixel, each on the new positions only,
        with the keys and values of earlier ones cached. Returns the colours ``(N, h, w)`` and the model calls."""
        batch, size = context.shape[0], self.config.coarse_size
        summary = context.mean(dim=(1, 2))
        colors = torch.zeros(batch, size, size, dtype=torch.long, device=context.device)
        row_caches = [{} for _ in self.outer_decoder.layers]
        above = torch.zeros(batch, 1, size, self.config.hidden_size, device=context.device)
        all_columns = torch.arange(size, device=context.device)
        calls = 1  # the encoder
        for row in range(size):
            row_index = torch.tensor([row], device=context.device)
            row_context = context[:, row : row + 1]
            outer = self.outer_decoder(above + self.positions(row_index, all_columns), row_context, summary, row_caches)
            pixel_caches = [{} for _ in self.inner_decoder.layers]
            left = torch.zeros(batch, 1, 1, self.config.hidden_size, device=context.device)
            calls += 1
            for column in range(size):
                pixel = slice(column, column + 1)
                hidden = left + outer[:, :, pixel] + row_context[:, :, pixel]
                logits = self.head(self.inner_decoder(hidden, row_context[:, :, pixel], summary, pixel_caches))
                colors[:, row, column] = choose(row, column, logits[:, 0, 0])
                left = self.color_embedding(colors[:, row : row + 1, pixel])
                calls += 1
            above = self.color_embedding(colors[:, row : row + 1])
        return colors, calls

    @torch.no_grad()
    def sample(
        self,
        pixel_values: torch.Tensor,
        num_samples: int = 1,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS,
    ) -> tuple[torch.Tensor, int]:
        """``num_samples`` colourings of each grey image: colours ``(batch * num_samples, h, w)`` (an image's
        samples consecutive) drawn pixel by pixel from softmax(logits / temperature), and the model calls. Records
        the encoder's layer outputs and attention weights."""
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        context = self.encode(pixel_values, layer_outputs)
        context = context.repeat_interleave(num_samples, dim=0)

        def draw(row: int, column: int, logits: torch.Tensor) -> torch.Tensor:
            probabilities = torch.softmax(logits.float() / temperature, dim=-1)
            return torch.multinomial(probabilities.cpu(), 1, generator=generator)[:, 0].to(logits.device)

        return self.decode(context, draw)


class CartoonColtranForColorization(CartoonColtranPreTrainedModel):
    """Both stages: the colour transformer and the upgrading network. `forward` trains one stage at a time
    (`color_labels` for stage 1, `coarse_colors` and `labels` for stage 2); [`~CartoonColtranForColorization.generate`]
    samples colourings from the lightness alone and upgrades them."""

    onnx_unsupported_reason = "its colours come from a sampling loop (4,161 model calls), not one graph"
    """Why the model does not export to ONNX (the other families' models export)."""

    def __init__(self, config: CartoonColtranConfig):
        super().__init__(config)
        self.cartoon_coltran = CartoonColtranModel(config)
        self.upgrader = CartoonColtranUpgrader(config)
        self.post_init()

    def color_losses(
        self, outputs: CartoonColtranModelOutput, color_labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eq. 7: L_c = lambda_c (-log P_c) + (1 - lambda_c) (-log P~_c), each averaged over pixels."""
        flat_labels = color_labels.reshape(-1)
        color = F.cross_entropy(outputs.logits.reshape(flat_labels.numel(), -1), flat_labels)
        auxiliary = F.cross_entropy(outputs.auxiliary_logits.reshape(flat_labels.numel(), -1), flat_labels)
        weight = self.config.color_loss_lambda
        return weight * color + (1 - weight) * auxiliary, color, auxiliary

    def upgrade(
        self, pixel_values: torch.Tensor, coarse_colors: torch.Tensor, layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 2 (Fig. 5): ab ``(B, 2, H, W)`` from the lightness and the coarse colours ``(B, h, w)``, and the
        coarse colours' ab upsampled bilinearly, which the network corrects."""
        upsampled = coarse_ab(coarse_colors, self.config.color_bits, pixel_values.shape[-1])
        return self.upgrader(pixel_values, upsampled, layer_outputs), upsampled

    def forward(
        self,
        pixel_values: torch.Tensor,
        color_labels: torch.Tensor | None = None,
        coarse_colors: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> CartoonColtranColorizationOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, 1, image_size, image_size)`):
            Lightness scaled to [-1, 1], as made by [`CartoonColtranImageProcessor`].
        color_labels (`torch.LongTensor` of shape `(batch_size, coarse_size, coarse_size)`, *optional*):
            Stage 1 (teacher forcing): the true 3-bit colours (see [`quantize_colors`]); returns L_c (Eq. 7).
        coarse_colors (`torch.LongTensor` of shape `(batch_size, coarse_size, coarse_size)`, *optional*):
            Stage 2: the coarse colours to upgrade (in training the truth's own, as Table I); returns ab.
        labels (`torch.FloatTensor` of shape `(batch_size, 2, image_size, image_size)`, *optional*):
            Stage 2 training: the true ab scaled by 1/110; returns lambda_r x MSE (Eq. 10's non-GAN term).
        output_attentions, output_hidden_states, return_dict (`bool`, *optional*):
            Return the attention weights and the layer outputs of what ran; return a
            [`CartoonColtranColorizationOutput`] rather than a tuple. Each defaults to the config's setting.

        Exactly one of `color_labels` and `coarse_colors` is given; to draw colourings from the lightness alone,
        call [`~CartoonColtranForColorization.generate`].
        """
        check_pixel_values(pixel_values, 1, self.config.stride, "lightness")
        if (color_labels is None) == (coarse_colors is None):
            raise ValueError(
                "pass color_labels (stage 1) or coarse_colors (stage 2), not both nor neither; "
                "to sample colourings from the lightness alone, call generate()"
            )
        if color_labels is not None:
            outputs = self.cartoon_coltran(
                pixel_values,
                color_labels,
                output_attentions=output_attentions,
                output_hidden_states=output_hidden_states,
                return_dict=True,
            )
            loss, color, auxiliary = self.color_losses(outputs, color_labels)
            result = CartoonColtranColorizationOutput(
                loss=loss,
                logits=outputs.logits,
                auxiliary_logits=outputs.auxiliary_logits,
                color_loss=color,
                auxiliary_loss=auxiliary,
                hidden_states=outputs.hidden_states,
                attentions=outputs.attentions,
            )
            return result if config_default(return_dict, self.config, "return_dict") else result.to_tuple()
        layer_outputs = LayerOutputs.requested(self.config, output_attentions, output_hidden_states)
        ab, upsampled_ab = self.upgrade(pixel_values, coarse_colors, layer_outputs)
        loss = mse = None
        if labels is not None:
            check_labels(ab, labels)
            mse = F.mse_loss(ab, labels)
            loss = self.config.mse_loss_weight * mse
        return self.colorization_output(
            return_dict, layer_outputs, ab, upsampled_ab, coarse_colors, loss=loss, mse_loss=mse
        )

    @torch.no_grad()
    def generate(
        self,
        pixel_values: torch.Tensor,
        num_samples: int = 1,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> CartoonColtranColorizationOutput | tuple:
        r"""Sample colourings of grey images and upgrade them: stage 1 draws each pixel's colour from
        softmax(logits / temperature), row by row and pixel by pixel, then stage 2 upgrades the coarse colours.

        pixel_values (`torch.FloatTensor` of shape `(batch_size, 1, image_size, image_size)`):
            Lightness scaled to [-1, 1], as made by [`CartoonColtranImageProcessor`].
        num_samples (`int`, *optional*, defaults to 1):
            Colourings per image; an image's samples are consecutive in the output.
        generator (`torch.Generator`, *optional*):
            The random generator that draws the colours: seed it for reproducible samples.
        temperature (`float`, *optional*, defaults to 1.0):
            The softmax temperature (positive; towards 0, the most likely colours).
        output_attentions, output_hidden_states, return_dict (`bool`, *optional*):
            Return the encoder's attention weights and the layer outputs of the encoder and the upgrading network
            (the decoders run one position at a time, their steps are not kept); return a
            [`CartoonColtranColorizationOutput`] (with `ab`, `coarse_colors`, `upsampled_ab` and `model_calls`)
            rather than a tuple. Each defaults to the config's setting.
        """
        check_pixel_values(pixel_values, 1, self.config.stride, "lightness")
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        layer_outputs = LayerOutputs.requested(self.config, output_attentions, output_hidden_states)
        coarse_colors, calls = self.cartoon_coltran.sample(
            pixel_values, num_samples, generator, temperature, layer_outputs
        )
        pixel_values = pixel_values.repeat_interleave(num_samples, dim=0)
        ab, upsampled_ab = self.upgrade(pixel_values, coarse_colors, layer_outputs)
        return self.colorization_output(return_dict, layer_outputs, ab, upsampled_ab, coarse_colors, model_calls=calls)

    def colorization_output(
        self,
        return_dict: bool | None,
        layer_outputs: LayerOutputs,
        ab: torch.Tensor,
        upsampled_ab: torch.Tensor,
        coarse_colors: torch.Tensor,
        **extra: torch.Tensor | int | None,
    ) -> CartoonColtranColorizationOutput | tuple:
        """Stage 2's output (after upgrading given or sampled colours), as the config's `return_dict` asks."""
        result = CartoonColtranColorizationOutput(
            ab=ab,
            coarse_colors=coarse_colors,
            upsampled_ab=upsampled_ab,
            hidden_states=layer_outputs.hidden_states,
            attentions=layer_outputs.attentions,
            **extra,
        )
        return result if config_default(return_dict, self.config, "return_dict") else result.to_tuple()


__all__ = [
    "CartoonColtranForColorization",
    "CartoonColtranModel",
    "CartoonColtranPreTrainedModel",
    "dequantize_colors",
    "quantize_colors",
]
