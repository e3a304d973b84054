"""DLSA model configuration."""

from dataclasses import field

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig
from transformers.backbone_utils import consolidate_backbone_kwargs_to_config

from ...backbones.configuration_efficientnet_lite import backbone_sub_configs


@strict
class DlsaConfig(PreTrainedConfig):
    r"""
    Configuration of a [`DlsaModel`] / [`DlsaForColorization`]: the point-hint colorizer of Li, Bao & Qiang,
    "Interactive image colorization method via dual local self-attention" (paper 000 in ``shared/papers``). The
    model reads the lightness and the user's hints (L, hint a, hint b, hint mask), embeds 4x4 patches (Sec. 3.1),
    runs four stages of dual local self-attention blocks (Sec. 3.2-3.4) joined by patch merging, then a 3x3 local
    stabilizing convolution and DUpsampling to full-resolution ab (Sec. 3.1). With ``backbone_config``, a semantic
    branch (this project's addition) reads the grey picture with a pretrained ImageNet encoder and adds its feature
    maps, projected, to the tokens of the stage at the same stride. The model cards give the choices made where the
    paper is silent and this project's additions.

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
            predict ab as that propagation plus a learned residual (this project's addition, see the model card).
        hint_reach_gating (`bool`, *optional*, defaults to `False`):
            Blend the network's output with hints into its output without hints by the hints' propagated reach
            (see the model card; needs `hint_propagation`). Doubles the cost of a call with hints.
        propagation_spatial_sigma (`float`, *optional*, defaults to 0.5):
            Sigma of the hint propagation's geodesic Gaussian, as a fraction of the shorter side of the input.
        propagation_range_sigma (`float`, *optional*, defaults to 0.3):
            Lightness change above the propagation's edge threshold (normalised units, 0.3 = 15 L*) that its
            path length counts as far as one spatial sigma: colour fades across edges of this size.
        head_filter_radius (`int`, *optional*, defaults to 0):
            Radius in pixels of the guided filter on the head's output (see the model card); 0 turns it off.
        head_filter_epsilon (`float`, *optional*, defaults to 0.01):
            The guided filter's epsilon: lightness variance (lightness in [0, 1]) below which a window counts as
            flat and is smoothed.
        fine_head_channels (`int`, *optional*, defaults to 0):
            Channels of the fine head (this project's addition, see the model card): an ab correction at the first
            stage's stride, added to DUpsampling's output before the guided filter. 0, as in the paper, has none.
        huber_delta (`float`, *optional*, defaults to 1.0):
            Delta of the Huber loss (Eq. 13, delta = 1), measured in CIE ab units.
        worse_than_grey_weight (`float`, *optional*, defaults to 0.0):
            Weight of the worse-than-grey term added to the Huber loss (see the model card); 0 leaves Eq. 13 alone.
        log_mse_weight (`float`, *optional*, defaults to 0.0):
            Weight of the per-image log-MSE term (`hf_colorize.modeling_utils.log_mse_loss`, this project's, see the
            model card) added to the Huber loss: minus the mean PSNR up to a constant. 0 leaves Eq. 13 alone.
        automatic_chroma_gain (`float`, *optional*, defaults to 1.0):
            Factor on the predicted ab of an image given no hint at all, where the model colours from the lightness
            alone (this project's addition, see the model card). A regression loss predicts a middle colour where
            several are plausible, paler than the truth; a gain above 1 restores saturation at some cost in PSNR.
            Images with hints are left as predicted, and the loss ignores it. 1 leaves every output as it is.
        backbone_config (`dict` or `PretrainedConfig`, *optional*):
            The semantic branch's pretrained encoder, in transformers' backbone convention (``load_backbone``): one
            of its `out_features` per stage, at the stage's stride (`patch_size` times 1, 2, 4, 8). Each map goes
            through a linear projection that starts at zero, so a new branch leaves the model's output as it was
            until it is trained. `None` (the paper) has no semantic branch.
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
    sub_configs_defaults = backbone_sub_configs()

    image_size: int = 224
    patch_size: int = 4
    num_channels: int = 4
    embed_dim: int = 12
    hidden_sizes: list[int] | None = None
    depths: list[int] = field(default_factory=lambda: [1, 1, 3, 1])
    num_heads: list[int] = field(default_factory=lambda: [3, 6, 12, 24])
    window_size: int = 7
    mlp_ratio: float | int = 4.0
    qkv_bias: bool = True
    hidden_dropout_prob: float | int = 0.0
    attention_probs_dropout_prob: float | int = 0.0
    drop_path_rate: float | int = 0.1
    use_absolute_embeddings: bool = True
    stabilizer_kernel_size: int = 3
    num_output_channels: int = 2
    hint_propagation: bool = False
    hint_reach_gating: bool = False
    propagation_spatial_sigma: float | int = 0.5
    propagation_range_sigma: float | int = 0.3
    head_filter_radius: int = 0
    head_filter_epsilon: float | int = 0.01
    fine_head_channels: int = 0
    huber_delta: float | int = 1.0
    worse_than_grey_weight: float | int = 0.0
    log_mse_weight: float | int = 0.0
    automatic_chroma_gain: float | int = 1.0
    backbone_config: dict | PreTrainedConfig | None = None
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        # transformers' backbone keywords (``backbone``, ``backbone_kwargs``, ...) or a dict become the sub-config
        self.backbone_config, kwargs = consolidate_backbone_kwargs_to_config(self.backbone_config, **kwargs)
        self.depths, self.num_heads = list(self.depths), list(self.num_heads)
        if self.hidden_sizes is None:
            self.hidden_sizes = [self.embed_dim * 4**stage for stage in range(len(self.depths))]
        self.hidden_sizes = list(self.hidden_sizes)
        super().__post_init__(**kwargs)
        self.validate_architecture()  # a ValueError now; strict's own run after __init__ wraps it in its error type

    def validate_architecture(self) -> None:
        """Refuse an inconsistent architecture with a ``ValueError`` naming the fields at fault."""
        super().validate_architecture()
        if not len(self.depths) == len(self.num_heads) == len(self.hidden_sizes):
            raise ValueError(
                f"depths {self.depths}, num_heads {self.num_heads} and hidden_sizes {self.hidden_sizes} "
                "must have the same length"
            )
        if self.hint_reach_gating and not self.hint_propagation:
            raise ValueError("hint_reach_gating needs hint_propagation: the hints' reach is their propagated weight")
        if self.head_filter_radius < 0 or self.head_filter_epsilon <= 0:
            raise ValueError(
                f"head_filter_radius must be >= 0 and head_filter_epsilon > 0, got {self.head_filter_radius} and "
                f"{self.head_filter_epsilon}"
            )
        if self.fine_head_channels < 0:
            raise ValueError(f"fine_head_channels must be >= 0 (0: no fine head), got {self.fine_head_channels}")
        if self.worse_than_grey_weight < 0:
            raise ValueError(f"worse_than_grey_weight must be >= 0, got {self.worse_than_grey_weight}")
        if self.log_mse_weight < 0:
            raise ValueError(f"log_mse_weight must be >= 0, got {self.log_mse_weight}")
        if self.automatic_chroma_gain <= 0:
            raise ValueError(f"automatic_chroma_gain must be positive, got {self.automatic_chroma_gain}")
        if self.hidden_sizes[0] != self.embed_dim:
            raise ValueError(f"hidden_sizes[0] = {self.hidden_sizes[0]} must equal embed_dim = {self.embed_dim}")
        for stage in range(1, len(self.hidden_sizes)):
            if self.hidden_sizes[stage] > 4 * self.hidden_sizes[stage - 1]:
                raise ValueError(
                    f"hidden_sizes[{stage}] exceeds the {4 * self.hidden_sizes[stage - 1]} channels merged"
                )
        stage_strides = [self.patch_size * 2**stage for stage in range(self.num_stages)]
        if self.backbone_config is not None and self.backbone_config.out_feature_strides() != stage_strides:
            raise ValueError(
                f"backbone_config out_features {self.backbone_config.out_features} must give one map per stage at "
                f"the stages' strides {stage_strides}, got strides {self.backbone_config.out_feature_strides()}"
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
