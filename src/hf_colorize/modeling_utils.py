"""What every family's modeling file shares: the check of its input tensors, the optional outputs a forward call asks
for (per-layer hidden states, attention weights), zero inputs for cost counts, a cache for constant tensors,
batch-norm initialisation and the ab regression loss."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig

from .color import AB_SCALE
from .rebalancing import rebalancing_weights


def tensor_cache(function: Callable[..., torch.Tensor | None]) -> Callable[..., torch.Tensor | None]:
    """Memoise a function of plain arguments that builds a constant tensor, except while ``torch.export`` or
    ``torch.compile`` traces (the ONNX export): a tensor made then is a tracing placeholder and must not be kept
    for eager calls. Tensors are built outside inference mode, so one first made under ``torch.inference_mode``
    still serves later calls that train."""

    def build(*args):
        with torch.inference_mode(False):
            return function(*args)

    cached = functools.lru_cache(maxsize=32)(build)

    @functools.wraps(function)
    def wrapper(*args):
        tracing = torch.compiler.is_compiling() or torch.compiler.is_exporting()
        return function(*args) if tracing else cached(*args)

    return wrapper


def check_pixel_values(pixel_values: torch.Tensor, num_channels: int, stride: int, contents: str) -> None:
    """Refuse ``pixel_values`` that are not ``(batch, num_channels, height, width)`` with sides multiple of ``stride``;
    ``contents`` names the channels in the message."""
    if pixel_values.ndim != 4 or pixel_values.shape[1] != num_channels:
        raise ValueError(
            f"pixel_values must be (batch, {num_channels}, height, width) ({contents}), got {tuple(pixel_values.shape)}"
        )
    height, width = pixel_values.shape[-2:]
    if height % stride or width % stride:
        raise ValueError(
            f"input size {width}x{height} is not a multiple of the model's stride {stride}; "
            "the image processor resizes images to a valid size"
        )


def config_default(value: bool | None, config: PretrainedConfig, name: str) -> bool:
    """A forward's ``output_hidden_states``, ``output_attentions`` or ``return_dict`` argument, or the config's setting
    of that ``name`` when the argument is ``None`` (transformers' convention)."""
    return getattr(config, name) if value is None else value


class LayerOutputs:
    """The per-layer outputs a forward call asked for, gathered as its layers run: each layer records its hidden
    state and each attention layer its weights, and only what was asked for is kept."""

    def __init__(self, hidden_states: bool = False, attentions: bool = False):
        self._hidden_states: list[torch.Tensor] | None = [] if hidden_states else None
        self._attentions: list[torch.Tensor] | None = [] if attentions else None

    @classmethod
    def requested(
        cls, config: PretrainedConfig, output_attentions: bool | None, output_hidden_states: bool | None
    ) -> LayerOutputs:
        """What a forward call asked for: each argument, or the config's setting where it is ``None``."""
        return cls(
            hidden_states=config_default(output_hidden_states, config, "output_hidden_states"),
            attentions=config_default(output_attentions, config, "output_attentions"),
        )

    @property
    def wants_hidden_states(self) -> bool:
        """Whether hidden states are kept (a layer that reshapes what it records may skip the work otherwise)."""
        return self._hidden_states is not None

    @property
    def wants_attentions(self) -> bool:
        """Whether attention layers must compute their weights (the slower path that can return them)."""
        return self._attentions is not None

    def record_hidden_state(self, hidden: torch.Tensor) -> None:
        if self._hidden_states is not None:
            self._hidden_states.append(hidden)

    def record_attention(self, weights: torch.Tensor) -> None:
        if self._attentions is not None:
            self._attentions.append(weights)

    @property
    def hidden_states(self) -> tuple[torch.Tensor, ...] | None:
        """The recorded hidden states in order, or ``None`` when they were not asked for."""
        return None if self._hidden_states is None else tuple(self._hidden_states)

    @property
    def attentions(self) -> tuple[torch.Tensor, ...] | None:
        """The recorded attention weights in order, or ``None`` when they were not asked for."""
        return None if self._attentions is None else tuple(self._attentions)


NO_LAYER_OUTPUTS = LayerOutputs()
"""Keeps nothing: the default of layers called by a forward that asked for no per-layer outputs."""


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    bias: torch.Tensor | None = None,
    is_causal: bool = False,
    dropout: float = 0.0,
    layer_outputs: LayerOutputs = NO_LAYER_OUTPUTS,
) -> torch.Tensor:
    """Attention of ``(N, heads, L_q, d)`` queries on ``(N, heads, L_k, d)`` keys and values, with an additive
    ``bias`` broadcasting to ``(N, heads, L_q, L_k)`` or a causal mask (query i sees keys up to i). PyTorch's fused
    kernel, unless ``layer_outputs`` wants attention weights: then the same computation step by step, recording the
    weights ``(N, heads, L_q, L_k)`` (after dropout, as they were applied)."""
    if not layer_outputs.wants_attentions:
        return F.scaled_dot_product_attention(query, key, value, attn_mask=bias, dropout_p=dropout, is_causal=is_causal)
    logits = query @ key.transpose(-1, -2) * query.shape[-1] ** -0.5
    if bias is not None:
        logits = logits + bias
    if is_causal:
        later = torch.ones(logits.shape[-2:], dtype=torch.bool, device=logits.device).triu(1)
        logits = logits.masked_fill(later, float("-inf"))
    weights = F.dropout(logits.softmax(dim=-1), dropout)
    layer_outputs.record_attention(weights)
    return weights @ value


def init_batch_norm(norm: nn.BatchNorm2d) -> None:
    """Weight 1, bias 0 and fresh running statistics (mean 0, variance 1, no batches seen), buffers included so that a
    model built on the meta device initialises fully. Through ``nn.init``, which transformers guards while loading, so
    loaded values are kept."""
    nn.init.ones_(norm.weight)
    nn.init.zeros_(norm.bias)
    nn.init.zeros_(norm.running_mean)
    nn.init.ones_(norm.running_var)
    nn.init.zeros_(norm.num_batches_tracked)


def zero_image_inputs(image_size: int, device: torch.device, **channels: int) -> dict[str, torch.Tensor]:
    """One image of zeros at ``image_size`` per named model input, ``channels`` deep: a family's ``dummy_inputs``
    for cost counts."""
    return {name: torch.zeros(1, count, image_size, image_size, device=device) for name, count in channels.items()}


def check_labels(ab: torch.Tensor, labels: torch.Tensor) -> None:
    """Refuse ``labels`` whose shape is not the predicted ab's, naming both shapes."""
    if labels.shape != ab.shape:
        raise ValueError(f"labels must have shape {tuple(ab.shape)}, got {tuple(labels.shape)}")


def ab_huber_loss(
    ab: torch.Tensor, labels: torch.Tensor, delta: float, rebalancing_mix: float | None = None
) -> torch.Tensor:
    """Huber loss between predicted and true ab (both scaled by 1/110), measured in CIE ab units; with
    ``rebalancing_mix``, each pixel weighs by the rarity of its true colour in the batch
    (:func:`hf_colorize.rebalancing.rebalancing_weights` with that uniform mix)."""
    check_labels(ab, labels)
    true_ab = labels * AB_SCALE
    if rebalancing_mix is None:
        return F.huber_loss(ab * AB_SCALE, true_ab, delta=delta)
    per_pixel = F.huber_loss(ab * AB_SCALE, true_ab, delta=delta, reduction="none")
    return (rebalancing_weights(true_ab, rebalancing_mix) * per_pixel).mean()


def worse_than_grey_loss(ab: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per image, how far the prediction's RMS ab distance to the truth exceeds that of leaving the image grey
    (ab = 0), in CIE ab units, averaged over the batch; 0 for images the prediction colours better than grey.

    PSNR ranks a prediction against grey by the same squared ab error (the lightness is the input's), so this
    hinge is positive exactly on the images a PSNR benchmark scores below grey. An L1-like loss weighs every
    pixel alike and rewards spreading one hint's colour, which is right on average and costly on the images
    where it is wrong; the hinge weighs those images more (this project's addition, no paper's).
    """
    check_labels(ab, labels)
    true_ab = labels * AB_SCALE
    squared_distance = (ab * AB_SCALE - true_ab).square().sum(1).flatten(1)  # per pixel, over a and b
    rms = squared_distance.mean(1).add(1e-6).sqrt()  # the offset keeps the gradient finite at 0 error
    grey_rms = true_ab.square().sum(1).flatten(1).mean(1).sqrt()
    return F.relu(rms - grey_rms).mean()


def log_mse_loss(ab: torch.Tensor, labels: torch.Tensor, floor: float = 1.0) -> torch.Tensor:
    """Per image, 10 log10 of the mean squared ab error (CIE ab units squared, over pixels and both channels) plus
    ``floor``, averaged over the batch.

    With the lightness given, this is the negative of an image's PSNR up to a constant, so its batch mean is the
    negative of the mean PSNR that the benchmarks report. A pixel-wise loss lets the images that are already close
    to right count for little; in dB a small error on a nearly grey picture counts as much as a large one on a
    colourful picture (this project's addition, no paper's). ``floor`` keeps the gradient finite at zero error.
    """
    check_labels(ab, labels)
    squared_error = (ab - labels).mul(AB_SCALE).square().flatten(1).mean(1)
    return 10 * torch.log10(squared_error + floor).mean()


def scale_chroma(ab: torch.Tensor, gain: float) -> torch.Tensor:
    """Predicted ab (scaled by 1/110) times ``gain``, clipped to [-1, 1]: more or less saturated colour with the same
    hues (a decoding choice; losses use the ab before it)."""
    return (ab * gain).clamp(-1, 1)
