"""Axial-attention exemplar colorization model configuration."""

from __future__ import annotations

from transformers import PretrainedConfig

VGG19_HIDDEN_SIZES = [64, 128, 256, 512, 512]
"""Output channels of VGG-19's five convolutional blocks (Simonyan & Zisserman 2015, configuration E)."""

VGG19_DEPTHS = [2, 2, 4, 4, 4]
"""Convolutions in each of VGG-19's five blocks."""


class AxialExemplarConfig(PretrainedConfig):
    r"""
    Configuration of an [`AxialExemplarModel`] / [`AxialExemplarForColorization`]: the exemplar colorizer of
    Gorriz Blanch, Khalifeh, Smeaton, O'Connor & Mrak, "Attention-based stylisation for exemplar image
    colourisation" (paper 002 in ``shared/papers``), which colours a grey target from a colour reference picture.

    The network (Sec. 3.1, Fig. 1): a VGG-19 backbone reads the target (its lightness as a grey RGB image) and
    the reference; the features at relu{l}_1 of blocks l = 1-5 and the target's relu5_3 are projected to
    ``hidden_size`` channels by 1x1 convolutions and ReLU; at the last ``len(attention_levels)`` levels an axial
    attention module (Sec. 3.2, Fig. 2) lets the target's features query the reference's and fuses them; a
    pyramid decoder climbs from relu5_3 back to full resolution, and a prediction head (3x3 convolution of
    ``prediction_head_size`` channels, ReLU, 1x1 convolution, tanh) gives ab at each of its four levels, P4
    (1/8 resolution) to P1 (full resolution). The loss (Eq. 4) sums, at every level, a smooth-L1 pixel loss
    against the target's true ab, the colour histogram loss (Eq. 3) against the reference's ab, a total
    variation term and, in training, an LSGAN term from a discriminator the trainer keeps.

    Choices where the paper is silent or vague:
    - Target input to VGG: the paper triplicates the luminance channel; here the target's lightness becomes
      the grey sRGB image of that lightness (ab = 0), so a VGG trained on ImageNet RGB sees what it sees for a
      black-and-white photo; both inputs are then normalised with the ImageNet mean and standard deviation, as
      the published VGG-19 weights expect.
    - Projections: target and reference features get separate 1x1 projections (one grey, one colour input).
    - Axial attention (Eq. 2, after axial-DeepLab, the paper's [48]): the first layer runs along the height
      axis, each target position querying the reference's column at the same x; the second runs along the
      width axis over the first layer's output (queries, keys and values), as the Axial Transformer ([17])
      stacks its layers, so that the two 1-D layers together reach every reference position. Eq. 2's key term
      ``k_T(p)`` is read as the key of the attended position ``p``. Relative positions beyond
      ``max_relative_position`` share the encoding of the largest offset, so any input size works.
    - Decoder (Sec. 3.1's five steps): the decoder of level l adds the fused features of level l + 1 (the
      projected target features where that level has no attention module) to the previous output, then 3x3
      convolution + ReLU, x2 bilinear upsampling, concatenation with the projected target features of level l,
      3x3 convolution + ReLU. The first decoder starts from the projected relu5_3.
    - Multi-scale truth: the true and reference ab are average-pooled by 2 per level (Sec. 3.3).
    - Smooth-L1 is PyTorch's with beta = 1 on ab scaled by 1/110 (the paper's [-1, 1] range), as Fast R-CNN
      ([42]) defines it. The histogram (Eq. 3) soft-bins ab over ``histogram_bins`` x ``histogram_bins`` bins
      (441 = 21 x 21) spanning [-1, 1] with bilinear weights, as Xiao et al. ([31]) approximate it. Total
      variation is the mean squared difference of neighbouring ab values, Johnson et al.'s ([23]) form.
    - Adversary (Sec. 3.3): one pix2pix patch discriminator ([22]) per prediction level, each judging (L, ab)
      at its scale, the true ab as real; LSGAN losses summed over the levels.
    - Output: the paper returns P1 as it is; ``chroma_filter_radius`` (off by default, 8 in
      ``axial-exemplar-small``) smooths it with a lightness-guided filter (He, Sun & Tang 2013), this project's
      addition against the mottled colour of a small model trained from scratch.

    Args:
        image_size (`int`, *optional*, defaults to 224):
            Side of the square resolution the image processor resizes target and reference to (Sec. 4.1).
        backbone_hidden_sizes (`list[int]`, *optional*, defaults to `[64, 128, 256, 512, 512]`):
            Output channels of the backbone's five blocks. VGG-19's widths load published VGG-19 weights
            ([`load_vgg19_weights`]); narrower ones give a backbone small enough to train from scratch.
        backbone_depths (`list[int]`, *optional*, defaults to `[2, 2, 4, 4, 4]`):
            Convolutions in each backbone block (VGG-19's). Blocks need at least 3 convolutions where relu5_3 is
            read (the fifth).
        freeze_backbone (`bool`, *optional*, defaults to `False`):
            Keep the backbone's weights fixed in training (for published ImageNet weights); off trains it.
        hidden_size (`int`, *optional*, defaults to 256):
            h: channels of the projected features, the attention and the decoder (Sec. 4.1: 256).
        num_attention_heads (`int`, *optional*, defaults to 8):
            Heads of each axial attention layer (Sec. 4.1: 8); must divide `hidden_size`.
        attention_levels (`list[int]`, *optional*, defaults to `[3, 4, 5]`):
            Backbone levels (1-5) whose features go through an axial attention module: the last N = 3 (Sec. 4.1,
            "from block 3").
        max_relative_position (`int`, *optional*, defaults to 56):
            Largest relative offset with its own positional encodings (Eq. 2's span m; 56 is the side of level 3
            at 224x224).
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

    def __init__(
        self,
        image_size: int = 224,
        backbone_hidden_sizes: list[int] | None = None,
        backbone_depths: list[int] | None = None,
        freeze_backbone: bool = False,
        hidden_size: int = 256,
        num_attention_heads: int = 8,
        attention_levels: list[int] | None = None,
        max_relative_position: int = 56,
        prediction_head_size: int = 64,
        num_output_channels: int = 2,
        chroma_filter_radius: int = 0,
        chroma_filter_epsilon: float = 0.01,
        pixel_loss_weight: float = 100.0,
        histogram_loss_weight: float = 2.0,
        tv_loss_weight: float = 50.0,
        adversarial_loss_weight: float = 1.0,
        histogram_bins: int = 21,
        histogram_epsilon: float = 1e-5,
        discriminator_hidden_size: int = 64,
        discriminator_layers: int = 3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.backbone_hidden_sizes = list(backbone_hidden_sizes or VGG19_HIDDEN_SIZES)
        self.backbone_depths = list(backbone_depths or VGG19_DEPTHS)
        self.freeze_backbone = freeze_backbone
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.attention_levels = list(attention_levels if attention_levels is not None else [3, 4, 5])
        self.max_relative_position = max_relative_position
        self.prediction_head_size = prediction_head_size
        self.num_output_channels = num_output_channels
        self.chroma_filter_radius = chroma_filter_radius
        self.chroma_filter_epsilon = chroma_filter_epsilon
        self.pixel_loss_weight = pixel_loss_weight
        self.histogram_loss_weight = histogram_loss_weight
        self.tv_loss_weight = tv_loss_weight
        self.adversarial_loss_weight = adversarial_loss_weight
        self.histogram_bins = histogram_bins
        self.histogram_epsilon = histogram_epsilon
        self.discriminator_hidden_size = discriminator_hidden_size
        self.discriminator_layers = discriminator_layers
        for name in ("backbone_hidden_sizes", "backbone_depths"):
            if len(getattr(self, name)) != self.num_levels:
                raise ValueError(
                    f"{name} needs one entry per backbone block 1-{self.num_levels}, got {getattr(self, name)}"
                )
        if min(self.backbone_depths) < 1 or self.backbone_depths[-1] < 3:
            raise ValueError(f"backbone_depths {self.backbone_depths}: one convolution a block, three in the fifth")
        if not set(self.attention_levels) <= set(range(1, self.num_levels + 1)):
            raise ValueError(f"attention_levels {self.attention_levels} must be backbone levels 1-{self.num_levels}")
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"hidden_size {hidden_size} is not a multiple of num_attention_heads {num_attention_heads}"
            )
        if chroma_filter_radius < 0 or chroma_filter_epsilon <= 0:
            raise ValueError(
                f"chroma_filter_radius must be >= 0 and chroma_filter_epsilon > 0, got {chroma_filter_radius} and "
                f"{chroma_filter_epsilon}"
            )
        if histogram_bins < 2:
            raise ValueError(f"histogram_bins must be at least 2, got {histogram_bins}")

    @property
    def num_levels(self) -> int:
        """Backbone blocks (VGG-19's five)."""
        return len(VGG19_HIDDEN_SIZES)

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this: four poolings between the five blocks."""
        return 2 ** (self.num_levels - 1)
