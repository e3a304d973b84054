"""Axial-attention exemplar colorization model configuration."""

from dataclasses import field

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig
from transformers.backbone_utils import consolidate_backbone_kwargs_to_config

from ...backbones.configuration_efficientnet_lite import backbone_sub_configs

VGG19_HIDDEN_SIZES = [64, 128, 256, 512, 512]
"""Output channels of VGG-19's five convolutional blocks (Simonyan & Zisserman 2015, configuration E)."""

VGG19_DEPTHS = [2, 2, 4, 4, 4]
"""Convolutions in each of VGG-19's five blocks."""


@strict
class AxialExemplarConfig(PreTrainedConfig):
    r"""
    Configuration of an [`AxialExemplarModel`] / [`AxialExemplarForColorization`]: the exemplar colorizer of
    Gorriz Blanch, Khalifeh, Smeaton, O'Connor & Mrak, "Attention-based stylisation for exemplar image
    colourisation" (paper 002 in ``shared/papers``), which colours a grey target from a colour reference picture.
    A VGG-19 backbone reads target and reference; their features at relu{l}_1 (and the target's relu5_3) are
    projected to ``hidden_size`` channels; at ``attention_levels`` an axial attention module (Sec. 3.2, Fig. 2) lets
    the target query the reference; a pyramid decoder climbs back to full resolution, with a prediction head giving
    ab at each of its four levels (Sec. 3.1). With ``backbone_config``, a pretrained ImageNet encoder
    (EfficientNet-Lite) takes VGG-19's place: its five feature maps (strides 2 to 32) are the levels, its deepest
    map the bottleneck, and the finest prediction (stride 2) is upsampled bilinearly to the input. The loss (Eq. 4)
    sums a smooth-L1 pixel loss, the colour histogram loss (Eq. 3), total variation and, in training, an LSGAN term.
    The model cards give the choices made where the paper is silent and this project's additions.

    Args:
        image_size (`int`, *optional*, defaults to 224):
            Side of the square resolution the image processor resizes target and reference to (Sec. 4.1).
        backbone_config (`dict` or `PretrainedConfig`, *optional*):
            A pretrained encoder in VGG-19's place, in transformers' backbone convention (``load_backbone``): its
            `out_features` are the levels, shallowest first, each at twice the stride of the one before; target and
            reference are read by the same encoder, as the paper's VGG-19 (see the model card). `None` keeps the
            paper's VGG-19 layout below.
        backbone_hidden_sizes (`list[int]`, *optional*, defaults to `[64, 128, 256, 512, 512]`):
            Without `backbone_config`: output channels of the VGG-19 backbone's five blocks. VGG-19's widths load
            published VGG-19 weights ([`load_vgg19_weights`]); narrower ones give a backbone small enough to train
            from scratch.
        backbone_depths (`list[int]`, *optional*, defaults to `[2, 2, 4, 4, 4]`):
            Without `backbone_config`: convolutions in each backbone block (VGG-19's). Blocks need at least 3
            convolutions where relu5_3 is read (the fifth).
        freeze_backbone (`bool`, *optional*, defaults to `False`):
            Keep the VGG-19 backbone's weights fixed in training (for published ImageNet weights); off trains it. A
            `backbone_config` encoder is frozen by the trainer's ``--freeze_backbone``.
        hidden_size (`int`, *optional*, defaults to 256):
            h: channels of the projected features, the attention and the decoder (Sec. 4.1: 256).
        num_attention_heads (`int`, *optional*, defaults to 8):
            Heads of each axial attention layer (Sec. 4.1: 8); must divide `hidden_size`.
        attention_levels (`list[int]`, *optional*, defaults to `[3, 4, 5]`):
            Backbone levels (1 to the number of levels, shallowest first) whose features go through an axial
            attention module: the last N = 3 (Sec. 4.1, "from block 3").
        max_relative_position (`int`, *optional*, defaults to 56):
            Largest relative offset with its own positional encodings (Eq. 2's span m; 56 is the side of VGG-19's
            level 3 at 224x224, 28 that of EfficientNet-Lite's).
        correspondence_levels (`list[int]`, *optional*, defaults to `[]`):
            Backbone levels whose features match each target position to the reference's positions before anything
            is learned (this project's addition, after He et al. 2018's deep exemplar colorization): the features of
            both pictures' lightness at these levels, resized to the first one's grid, each centred over the image
            and unit-normalised per position, give cosine similarities; the reference's ab, pooled to that grid and
            averaged with their softmax weights, is each head's starting point, and the heads predict the residual.
            Empty (the paper) leaves the heads to predict ab themselves.
        correspondence_temperature (`float`, *optional*, defaults to 0.01):
            Temperature of that softmax over cosine similarities: small values take the best match's colour.
        prediction_head_size (`int`, *optional*, defaults to 64):
            e: channels of each prediction head's 3x3 convolution (Sec. 4.1: 64).
        num_output_channels (`int`, *optional*, defaults to 2):
            Predicted channels (a and b).
        chroma_filter_radius (`int`, *optional*, defaults to 0):
            Radius in pixels of a guided filter (He, Sun & Tang 2013) applied to the output ab with the target's
            lightness as the guide: colour is made flat within regions and keeps its changes at lightness edges,
            which removes the mottled colour and the fringes at object edges of a small model trained from
            scratch. 0 (the paper) returns the finest head's ab as it is. The losses are always on the heads' own
            output. This project's addition.
        chroma_filter_epsilon (`float`, *optional*, defaults to 0.01):
            The guided filter's epsilon, on lightness scaled to [0, 1]: windows whose lightness variance is well
            below it are smoothed, those well above it (edges) keep their colour.
        pixel_loss_weight (`float`, *optional*, defaults to 100.0):
            lambda_pixel of Eq. 4 (Sec. 4.1: 100).
        histogram_loss_weight (`float`, *optional*, defaults to 2.0):
            lambda_hist of Eq. 4 (Sec. 4.1: 2).
        tv_loss_weight (`float`, *optional*, defaults to 50.0):
            lambda_TV of Eq. 4 (Sec. 4.1: 50).
        adversarial_loss_weight (`float`, *optional*, defaults to 1.0):
            lambda_G of Eq. 4 (Sec. 4.1: 1), applied by the trainer, which holds the discriminators.
        histogram_bins (`int`, *optional*, defaults to 21):
            Bins per ab axis of the colour histogram; Q = `histogram_bins` squared (Sec. 4.1: Q = 441).
        histogram_epsilon (`float`, *optional*, defaults to 1e-5):
            epsilon of Eq. 3.
        discriminator_hidden_size (`int`, *optional*, defaults to 64):
            Channels of the first layer of each scale's patch discriminator (pix2pix's 64), doubling per layer.
        discriminator_layers (`int`, *optional*, defaults to 3):
            Stride-2 layers of each patch discriminator: one logit per 8x8 patch at every scale.
    """

    model_type = "axial_exemplar"
    paper = (
        "Gorriz Blanch, Khalifeh, Smeaton, O'Connor & Mrak, Attention-based stylisation for exemplar image "
        "colourisation"
    )
    """The paper the family implements (for model cards)."""
    description = "Exemplar colorizer: the picture takes the palette of a colour reference picture."
    """What the family does, in one sentence (for the Space and other front ends)."""
    sub_configs_defaults = backbone_sub_configs()

    image_size: int = 224
    backbone_config: dict | PreTrainedConfig | None = None
    backbone_hidden_sizes: list[int] = field(default_factory=lambda: list(VGG19_HIDDEN_SIZES))
    backbone_depths: list[int] = field(default_factory=lambda: list(VGG19_DEPTHS))
    freeze_backbone: bool = False
    hidden_size: int = 256
    num_attention_heads: int = 8
    attention_levels: list[int] = field(default_factory=lambda: [3, 4, 5])
    max_relative_position: int = 56
    correspondence_levels: list[int] = field(default_factory=list)
    correspondence_temperature: float | int = 0.01
    prediction_head_size: int = 64
    num_output_channels: int = 2
    chroma_filter_radius: int = 0
    chroma_filter_epsilon: float | int = 0.01
    pixel_loss_weight: float | int = 100.0
    histogram_loss_weight: float | int = 2.0
    tv_loss_weight: float | int = 50.0
    adversarial_loss_weight: float | int = 1.0
    histogram_bins: int = 21
    histogram_epsilon: float = 1e-5
    discriminator_hidden_size: int = 64
    discriminator_layers: int = 3

    def __post_init__(self, **kwargs):
        # transformers' backbone keywords (``backbone``, ``backbone_kwargs``, ...) or a dict become the sub-config
        self.backbone_config, kwargs = consolidate_backbone_kwargs_to_config(self.backbone_config, **kwargs)
        for name in ("backbone_hidden_sizes", "backbone_depths", "attention_levels", "correspondence_levels"):
            setattr(self, name, list(getattr(self, name)))
        super().__post_init__(**kwargs)
        self.validate_architecture()  # a ValueError now; strict's own run after __init__ wraps it in its error type

    def validate_architecture(self) -> None:
        """Refuse an inconsistent architecture or loss setting with a ``ValueError`` naming the fields at fault."""
        super().validate_architecture()
        if self.backbone_config is None:
            self.validate_vgg19_layout()
        elif [stride // self.level_strides[0] for stride in self.level_strides] != [
            2**i for i in range(self.num_levels)
        ]:
            raise ValueError(
                f"backbone_config out_features {self.backbone_config.out_features} must double the stride from each "
                f"level to the next, got strides {self.level_strides}"
            )
        for name in ("attention_levels", "correspondence_levels"):
            if not set(getattr(self, name)) <= set(range(1, self.num_levels + 1)):
                raise ValueError(f"{name} {getattr(self, name)} must be backbone levels 1-{self.num_levels}")
        if self.correspondence_temperature <= 0:
            raise ValueError(f"correspondence_temperature must be positive, got {self.correspondence_temperature}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads {self.num_attention_heads}"
            )
        if self.chroma_filter_radius < 0 or self.chroma_filter_epsilon <= 0:
            raise ValueError(
                f"chroma_filter_radius must be >= 0 and chroma_filter_epsilon > 0, got {self.chroma_filter_radius} "
                f"and {self.chroma_filter_epsilon}"
            )
        if self.histogram_bins < 2:
            raise ValueError(f"histogram_bins must be at least 2, got {self.histogram_bins}")

    def validate_vgg19_layout(self) -> None:
        for name in ("backbone_hidden_sizes", "backbone_depths"):
            if len(getattr(self, name)) != self.num_levels:
                raise ValueError(
                    f"{name} needs one entry per backbone block 1-{self.num_levels}, got {getattr(self, name)}"
                )
        if min(self.backbone_depths) < 1 or self.backbone_depths[-1] < 3:
            raise ValueError(f"backbone_depths {self.backbone_depths}: one convolution a block, three in the fifth")

    @property
    def num_levels(self) -> int:
        """Feature levels: VGG-19's five blocks, or the backbone's `out_features`."""
        return len(VGG19_HIDDEN_SIZES) if self.backbone_config is None else len(self.backbone_config.out_features)

    @property
    def level_strides(self) -> list[int]:
        """The stride of each level: 1 to 16 for VGG-19 (four poolings), the backbone's own for `out_features`."""
        if self.backbone_config is None:
            return [2**level for level in range(self.num_levels)]
        return self.backbone_config.out_feature_strides()

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this: the deepest level's stride."""
        return self.level_strides[-1]
