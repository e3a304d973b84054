"""DLSA model configuration."""

from __future__ import annotations

from transformers import PretrainedConfig


class DlsaConfig(PretrainedConfig):
    r"""
    Configuration of a [`DlsaModel`] / [`DlsaForColorization`]: the point-hint colorizer of Li, Bao & Qiang,
    "Interactive image colorization method via dual local self-attention" (paper 000 in ``shared/papers``).

    The model reads the lightness and the user's hints (L, hint a, hint b, hint mask), embeds 4x4 patches
    (Sec. 3.1), runs four stages of dual local self-attention blocks (Sec. 3.2-3.4) joined by patch merging
    that keeps all channels (no Swin 1x1 reduction, Sec. 3.2 and ablation Model 4), then a 3x3 local
    stabilizing convolution and DUpsampling to full-resolution ab (Sec. 3.1).

    Choices where the paper is silent or inconsistent:
    - ``depths`` counts dual local self-attention blocks. Each block holds a window, a shifted-window and a
      feature-window attention (Eqs. 6-9), so one block plays the part of a (W-MSA, SW-MSA) pair of Swin
      blocks; "follows Swin-T" then means Swin-T's heads and its 1-1-3-1 pairs.
    - Patch merging concatenates 2x2 tokens and keeps all 4C channels, as the paper's Ours models do. The
      paper's literal widths (48 growing to 3072 channels) cost far more than its 1.01 / 3.47 GFLOPs, so
      ``hidden_sizes`` may ask for fewer channels at a stage, and that merge then ends in a Swin-style
      linear reduction: `dlsa-small` keeps channels at every merge; `dlsa-tiny`, whose weights must ship
      in the package (under 8 MB), keeps them at the first merge and reduces at the two later ones.
    - Token brightness for the feature-space clustering is the mean input lightness over the token's
      patch (Eq. 12, after Levin et al.'s intensity affinity).
    - ``hint_propagation`` (off by default, on in the bundled `dlsa-tiny`) is this project's addition, not
      the paper's: the hints are first spread over the image along paths that avoid lightness edges
      (:func:`hf_colorize.propagation.propagate_hints`, Gastal & Oliveira's domain transform, fading to grey
      away from the hints), the result and its confidence are three more input channels, and the network
      predicts the ab *residual* on top of it. The stride-32 DUpsampling head alone cannot place colour edges
      finer than a token; the propagated hints carry the full-resolution lightness edges.
    - ``hint_reach_gating`` (off by default and in the bundled `dlsa-tiny`; this project's): the network
      runs twice, with the hints and without them, and the hinted output counts only as far as the hints reach
      under the propagation, ``ab = ab_without + g (ab_with - ab_without)`` with ``g = w / (w + 0.1)`` of the
      propagation's summed hint weight ``w`` (the fraction of a hint's colour the propagation itself keeps).
      A network attends over the whole image and, trained on true colours, learns to spread one hint's colour
      over all of it; gated, a hint changes nothing beyond the lightness edges and distance that stop its
      propagation, and the rest keeps the colours the network gives without hints. On true-colour hints it
      scores lower than the ungated network (the README has the figures), which is why it is off.
    - ``head_filter_radius`` (0 by default, off as in the paper; 8 in the bundled `dlsa-tiny`; this project's):
      DUpsampling turns each stride-32 token into its own 32x32 block of output, so the head's colour changes in
      steps along the token grid, straight lines that follow nothing in the picture. The head's output (the
      residual, with ``hint_propagation``) goes through the guided filter of He, Sun & Tang 2013
      (:func:`hf_colorize.filters.guided_filter`) with the lightness as the guide, which joins the blocks where
      the picture is flat and keeps colour edges where the lightness has them. It is part of the prediction, so
      the loss is on the filtered output.
    - ``worse_than_grey_weight`` (0 by default, as in the paper; 0.4 in the bundled `dlsa-tiny`; this project's): a
      second loss term, :func:`hf_colorize.modeling_utils.worse_than_grey_loss`, the amount by which an image's RMS
      ab error exceeds grey's. Eq. 13's Huber loss with delta 1 is nearly L1 over pixels; it rewards carrying a hint's
      colour far, right on average and wrong on the images where the hinted object stands alone, which then come
      out worse than no colour at all. The term weighs those images more.

    Args:
        image_size (`int`, *optional*, defaults to 224):
            Side of the square resolution the image processor resizes inputs to (Sec. 4.3: 224x224).
        patch_size (`int`, *optional*, defaults to 4):
            Side of the patches embedded in stage 1 (Sec. 3.1, P1 = 4).
        num_channels (`int`, *optional*, defaults to 4):
            Input channels: normalised L, hint a, hint b and the hint mask.
        embed_dim (`int`, *optional*, defaults to 12):
            Channels after patch embedding.
        hidden_sizes (`list[int]`, *optional*):
            Channels of each stage. Defaults to ``embed_dim * 4**i``: every patch merging keeps all channels.
            A stage with fewer than 4x the previous stage's channels reduces them with a linear layer.
        depths (`list[int]`, *optional*, defaults to `[1, 1, 3, 1]`):
            Dual local self-attention blocks per stage.
        num_heads (`list[int]`, *optional*, defaults to `[3, 6, 12, 24]`):
            Attention heads per stage; each must divide that stage's channels.
        window_size (`int`, *optional*, defaults to 7):
            Side M of the square local windows; a feature-space window holds M*M tokens (Sec. 3.4).
        mlp_ratio (`float`, *optional*, defaults to 4.0):
            Ratio r of the MLP's hidden width to the channels (Sec. 3.3, r = 4).
        qkv_bias (`bool`, *optional*, defaults to `True`):
            Whether the query, key and value projections have a bias.
        hidden_dropout_prob (`float`, *optional*, defaults to 0.0):
            Dropout after attention projections and MLPs.
        attention_probs_dropout_prob (`float`, *optional*, defaults to 0.0):
            Dropout on attention weights.
        drop_path_rate (`float`, *optional*, defaults to 0.1):
            Stochastic depth rate, growing linearly over the blocks.
        use_absolute_embeddings (`bool`, *optional*, defaults to `True`):
            Add a learned position embedding E_pos to the patch tokens (Sec. 3.3), interpolated for other sizes.
        stabilizer_kernel_size (`int`, *optional*, defaults to 3):
            Kernel of the local stabilizing convolution before DUpsampling (Sec. 3.1, "receptive field of 3").
        num_output_channels (`int`, *optional*, defaults to 2):
            Predicted channels (a and b).
        hint_propagation (`bool`, *optional*, defaults to `False`):
            Add the edge-aware propagation of the hints (ab and a confidence in [0, 1)) as input channels and
            predict ab as that propagation plus a learned residual (a deviation from the paper, see above).
        hint_reach_gating (`bool`, *optional*, defaults to `False`):
            Blend the network's output with hints into its output without hints by the hints' propagated reach
            (see above; needs `hint_propagation`). Doubles the cost of a call with hints.
        propagation_spatial_sigma (`float`, *optional*, defaults to 0.5):
            Sigma of the hint propagation's geodesic Gaussian, as a fraction of the shorter side of the input.
        propagation_range_sigma (`float`, *optional*, defaults to 0.3):
            Lightness change above the propagation's edge threshold (normalised units, 0.3 = 15 L*) that its
            path length counts as far as one spatial sigma: colour fades across edges of this size.
        head_filter_radius (`int`, *optional*, defaults to 0):
            Radius in pixels of the guided filter on the head's output (see above); 0 turns it off.
        head_filter_epsilon (`float`, *optional*, defaults to 0.01):
            The guided filter's epsilon: lightness variance (lightness in [0, 1]) below which a window counts as
            flat and is smoothed.
        huber_delta (`float`, *optional*, defaults to 1.0):
            Delta of the Huber loss (Eq. 13, delta = 1), measured in CIE ab units.
        worse_than_grey_weight (`float`, *optional*, defaults to 0.0):
            Weight of the worse-than-grey term added to the Huber loss (see above); 0 leaves Eq. 13 alone.
        layer_norm_eps (`float`, *optional*, defaults to 1e-5):
            Epsilon of the layer norms.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the truncated normal weight initialiser.
    """

    model_type = "dlsa"
    paper = "Li, Bao & Qiang, Interactive image colorization method via dual local self-attention"
    """The paper the family implements (for model cards)."""
    description = (
        "Point-hint colorizer: colours the picture from colour hints placed on it; with none it makes its own guess."
    )
    """What the family does, in one sentence (for the Space and other front ends)."""

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 4,
        num_channels: int = 4,
        embed_dim: int = 12,
        hidden_sizes: list[int] | None = None,
        depths: list[int] | None = None,
        num_heads: list[int] | None = None,
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        drop_path_rate: float = 0.1,
        use_absolute_embeddings: bool = True,
        stabilizer_kernel_size: int = 3,
        num_output_channels: int = 2,
        hint_propagation: bool = False,
        hint_reach_gating: bool = False,
        propagation_spatial_sigma: float = 0.5,
        propagation_range_sigma: float = 0.3,
        head_filter_radius: int = 0,
        head_filter_epsilon: float = 0.01,
        huber_delta: float = 1.0,
        worse_than_grey_weight: float = 0.0,
        layer_norm_eps: float = 1e-5,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.embed_dim = embed_dim
        self.depths = list(depths) if depths is not None else [1, 1, 3, 1]
        if hidden_sizes is None:
            hidden_sizes = [embed_dim * 4**stage for stage in range(len(self.depths))]
        self.hidden_sizes = list(hidden_sizes)
        self.num_heads = list(num_heads) if num_heads is not None else [3, 6, 12, 24]
        self.window_size = window_size
        self.mlp_ratio = mlp_ratio
        self.qkv_bias = qkv_bias
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.drop_path_rate = drop_path_rate
        self.use_absolute_embeddings = use_absolute_embeddings
        self.stabilizer_kernel_size = stabilizer_kernel_size
        self.num_output_channels = num_output_channels
        self.hint_propagation = hint_propagation
        self.hint_reach_gating = hint_reach_gating
        self.propagation_spatial_sigma = propagation_spatial_sigma
        self.propagation_range_sigma = propagation_range_sigma
        self.head_filter_radius = head_filter_radius
        self.head_filter_epsilon = head_filter_epsilon
        self.huber_delta = huber_delta
        self.worse_than_grey_weight = worse_than_grey_weight
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        if not len(self.depths) == len(self.num_heads) == len(self.hidden_sizes):
            raise ValueError(
                f"depths {self.depths}, num_heads {self.num_heads} and hidden_sizes {self.hidden_sizes} "
                "must have the same length"
            )
        if hint_reach_gating and not hint_propagation:
            raise ValueError("hint_reach_gating needs hint_propagation: the hints' reach is their propagated weight")
        if head_filter_radius < 0 or head_filter_epsilon <= 0:
            raise ValueError(
                f"head_filter_radius must be >= 0 and head_filter_epsilon > 0, got {head_filter_radius} and "
                f"{head_filter_epsilon}"
            )
        if worse_than_grey_weight < 0:
            raise ValueError(f"worse_than_grey_weight must be >= 0, got {worse_than_grey_weight}")
        if self.hidden_sizes[0] != embed_dim:
            raise ValueError(f"hidden_sizes[0] = {self.hidden_sizes[0]} must equal embed_dim = {embed_dim}")
        for stage in range(1, len(self.hidden_sizes)):
            if self.hidden_sizes[stage] > 4 * self.hidden_sizes[stage - 1]:
                raise ValueError(
                    f"hidden_sizes[{stage}] exceeds the {4 * self.hidden_sizes[stage - 1]} channels merged"
                )
        for stage, heads in enumerate(self.num_heads):
            if self.stage_channels(stage) % heads:
                raise ValueError(
                    f"num_heads[{stage}] = {heads} does not divide the "
                    f"{self.stage_channels(stage)} channels of stage {stage}"
                )

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this: the patch size times one halving per patch merging."""
        return self.patch_size * 2 ** (self.num_stages - 1)

    @property
    def embedding_channels(self) -> int:
        """Channels the patch embedding reads: the inputs, plus propagated ab and confidence when on."""
        return self.num_channels + (3 if self.hint_propagation else 0)

    def stage_channels(self, stage: int) -> int:
        """Channels of stage ``stage``."""
        return self.hidden_sizes[stage]
