"""SMSANet model configuration."""

from dataclasses import field

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig
from transformers.backbone_utils import consolidate_backbone_kwargs_to_config

from ...backbones.configuration_efficientnet_lite import backbone_sub_configs
from ...color import AB_SCALE as AB_RANGE

NUM_BLOCKS = 10
"""Zhang et al.'s conv1-conv10: seven encoder blocks, then three upsampling blocks."""

NUM_DOWNSAMPLINGS = 3
"""Blocks 1-3 each halve the resolution for the block after them."""


@strict
class SmsanetConfig(PreTrainedConfig):
    r"""
    Configuration of a [`SmsanetModel`] / [`SmsanetForColorization`]: the automatic colorizer of Jiang, Xu, Xia,
    Yang, Huang & Huang, "Stacked multi-scale attention network for image colorization" (paper 004 in
    ``shared/papers``). The network reads only the lightness: Zhang et al. 2017's encoder (conv1-conv7) and decoder
    (conv8-conv10, with shortcuts) without the hint input, or a pretrained backbone and a decoder climbing back from
    it; stacked multi-scale attention (SMSA, Sec. 2.2) refines chosen blocks; a 1x1 convolution and a tanh regress
    ab scaled by 1/110. The loss is Huber (Eq. 5) plus ``salient_loss_weight`` times the salient loss (Eqs. 6-7).
    The model cards give the choices made where the paper is silent and this project's additions.

    Args:
        image_size (`int`, *optional*, defaults to 224):
            Side of the square resolution the image processor resizes inputs to. The paper trains at 256x256
            (Sec. 3.2); 224 is this project's evaluation resolution. The network is fully convolutional: any
            multiple of `stride` works.
        num_channels (`int`, *optional*, defaults to 1):
            Input channels: the lightness scaled to [-1, 1] (Sec. 2.1).
        hidden_sizes (`list[int]`, *optional*, defaults to `[64, 128, 256, 512, 512, 512, 512, 256, 128, 128]`):
            Output channels of conv1-conv10 (Zhang et al.'s widths). Smaller lists give smaller variants.
        block_depths (`list[int]`, *optional*, defaults to `[2, 2, 3, 3, 3, 3, 3, 3, 2, 2]`):
            Convolutions in each of conv1-conv10. In conv8-conv10 the first is the transposed convolution (with
            its shortcut convolution beside it); the rest are 3x3 convolutions.
        dilations (`list[int]`, *optional*, defaults to `[1, 1, 1, 1, 2, 2, 1, 1, 1, 1]`):
            Dilation of the 3x3 convolutions of each block (Zhang et al.: 2 in conv5 and conv6).
        use_smsa (`bool`, *optional*, defaults to `True`):
            Refine the `attention_blocks` with SMSA (Sec. 2.2). Off gives the paper's BaseNet (Sec. 3.4, Tables
            2-3).
        attention_blocks (`list[int]`, *optional*, defaults to `[5, 6, 7]`):
            Numbers (1-10, as conv1-conv10) of the blocks whose output SMSA refines (after conv5-conv7: see the model
            card).
        attention_scales (`list[int]`, *optional*, defaults to `[1, 2, 4]`):
            Sides of the patches the spatial branch pools over, one attention map A_k each (Eqs. 1-3).
        attention_reduction (`int`, *optional*, defaults to 16):
            Channel reduction ratio of the channel branch's hidden layer (Eq. 2, W_1); at least one unit.
        attention_kernel_size (`int`, *optional*, defaults to 3):
            Kernel of the convolution f that turns each pooled scale into an attention map (Eq. 2: 3x3).
        num_output_channels (`int`, *optional*, defaults to 2):
            Predicted channels (a and b).
        huber_delta (`float`, *optional*, defaults to 1.0):
            Delta of the Huber loss (Eq. 5, delta = 1), measured in CIE ab units.
        use_salient_loss (`bool`, *optional*, defaults to `True`):
            Add the salient loss (Eqs. 6-7). Off leaves the Huber loss alone (Table 3's "Huber" rows).
        salient_loss_weight (`float`, *optional*, defaults to 1.0):
            alpha_1, the weight of the salient loss in the total loss (Eq. 7: alpha_1 = 1).
        use_color_rebalancing (`bool`, *optional*, defaults to `False`):
            Weigh the Huber term by the rarity of each pixel's true colour (Zhang et al. 2016, Eq. 4; see the model
            card).
        rebalancing_uniform_mix (`float`, *optional*, defaults to 0.5):
            Zhang et al.'s lambda in (0, 1]: the share of the uniform distribution mixed into the colour
            distribution before inverting it; 1 weighs every pixel alike.
        worse_than_grey_weight (`float`, *optional*, defaults to 0.0):
            Weight of the worse-than-grey term (`hf_colorize.modeling_utils.worse_than_grey_loss`, this project's,
            as in `dlsa`): per image, how far the prediction's RMS ab error exceeds that of leaving it grey. 0 leaves
            Eq. 7 alone.
        chroma_gain (`float`, *optional*, defaults to 1.0):
            Factor on the predicted ab at the output (see the model card); 1 leaves the head's output as it is, larger
            values give more saturated colours. The loss ignores it.
        color_bin_size (`int`, *optional*, defaults to 0):
            0 keeps the paper's regression alone. A positive side, in CIE ab units, adds Zhang et al. 2016's
            classification: a second head predicts, at a quarter of the input resolution as they do, a distribution
            over a grid of ab bins of this side covering [-110, 110]^2, trained by cross-entropy against the truth
            soft-encoded onto its four nearest bin centres (bilinear weights, in place of their five-neighbour
            Gaussian).
        classification_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of that cross-entropy in the total loss.
        annealed_mean_temperature (`float`, *optional*, defaults to 0.38):
            T of Zhang et al. 2016's annealed mean (Eq. 5): the classification's colour is the mean of the bin
            centres under the distribution sharpened by 1/T. Their 0.38; lower is more vivid, 1 is the plain mean.
        classification_mix (`float`, *optional*, defaults to 0.0):
            Share of the classification's annealed mean in the output ab, the rest being the regression's: 0 is
            regression alone, 1 classification alone (this project's addition; the model card gives the measured
            curve). Only the output uses it; the loss trains both heads.
        confidence_power (`float`, *optional*, defaults to 0.0):
            Confidence-gated chroma (this project's addition): the output ab is multiplied by the classification's
            per-pixel confidence, one minus the entropy of its distribution over the log of the bin count (0 for a
            uniform guess, 1 for a single bin), to this power, before `chroma_gain`. 0 leaves the ab as it is; with
            1, `chroma_gain` near 1 / the typical confidence keeps the overall colourfulness while confident pixels
            keep more chroma than unsure ones. The model card gives the measured settings.
        backbone_config (`dict` or `PretrainedConfig`, *optional*):
            A pretrained encoder in place of conv1-conv7 (see the model card), in transformers' backbone convention
            (``load_backbone``); its `out_features` are the shortcuts, shallowest first, ending with the deepest
            map. `None` keeps the paper's network.
        decoder_hidden_sizes (`list[int]`, *optional*, defaults to `[128, 96, 64, 32]`):
            With a backbone: the channels of the decoder blocks, one per backbone shortcut after the deepest map,
            deepest first.
        decoder_depth (`int`, *optional*, defaults to 2):
            With a backbone: convolutions in each decoder block (the transposed one included).
    """

    model_type = "smsanet"
    paper = "Jiang, Xu, Xia, Yang, Huang & Huang, Stacked multi-scale attention network for image colorization"
    """The paper the family implements (for model cards)."""
    description = "Automatic colorizer: colours the picture from its lightness alone."
    """What the family does, in one sentence (for the Space and other front ends)."""
    sub_configs_defaults = backbone_sub_configs()

    image_size: int = 224
    num_channels: int = 1
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 512, 512, 512, 256, 128, 128])
    block_depths: list[int] = field(default_factory=lambda: [2, 2, 3, 3, 3, 3, 3, 3, 2, 2])
    dilations: list[int] = field(default_factory=lambda: [1, 1, 1, 1, 2, 2, 1, 1, 1, 1])
    use_smsa: bool = True
    attention_blocks: list[int] = field(default_factory=lambda: [5, 6, 7])
    attention_scales: list[int] = field(default_factory=lambda: [1, 2, 4])
    attention_reduction: int = 16
    attention_kernel_size: int = 3
    num_output_channels: int = 2
    huber_delta: float | int = 1.0
    use_salient_loss: bool = True
    salient_loss_weight: float | int = 1.0
    use_color_rebalancing: bool = False
    rebalancing_uniform_mix: float | int = 0.5
    worse_than_grey_weight: float | int = 0.0
    chroma_gain: float | int = 1.0
    color_bin_size: int = 0
    classification_loss_weight: float | int = 1.0
    annealed_mean_temperature: float | int = 0.38
    classification_mix: float | int = 0.0
    confidence_power: float | int = 0.0
    backbone_config: dict | PreTrainedConfig | None = None
    decoder_hidden_sizes: list[int] = field(default_factory=lambda: [128, 96, 64, 32])
    decoder_depth: int = 2

    def __post_init__(self, **kwargs):
        # transformers' backbone keywords (``backbone``, ``backbone_kwargs``, ...) or a dict become the sub-config
        self.backbone_config, kwargs = consolidate_backbone_kwargs_to_config(self.backbone_config, **kwargs)
        for name in ("hidden_sizes", "block_depths", "dilations", "attention_blocks", "attention_scales"):
            setattr(self, name, list(getattr(self, name)))
        self.decoder_hidden_sizes = list(self.decoder_hidden_sizes)
        super().__post_init__(**kwargs)
        self.validate_architecture()  # a ValueError now; strict's own run after __init__ wraps it in its error type

    def validate_architecture(self) -> None:
        """Refuse an inconsistent architecture or loss setting with a ``ValueError`` naming the fields at fault."""
        super().validate_architecture()
        for name in ("hidden_sizes", "block_depths", "dilations"):
            if len(getattr(self, name)) != NUM_BLOCKS:
                raise ValueError(f"{name} needs one entry per block conv1-conv{NUM_BLOCKS}, got {getattr(self, name)}")
        if min(self.block_depths) < 1:
            raise ValueError(f"every block needs at least one convolution, got block_depths {self.block_depths}")
        if not set(self.attention_blocks) <= set(range(1, NUM_BLOCKS + 1)):
            raise ValueError(f"attention_blocks {self.attention_blocks} must be block numbers 1-{NUM_BLOCKS}")
        if not 0 < self.rebalancing_uniform_mix <= 1:
            raise ValueError(f"rebalancing_uniform_mix must be in (0, 1], got {self.rebalancing_uniform_mix}")
        if self.worse_than_grey_weight < 0:
            raise ValueError(f"worse_than_grey_weight must be >= 0, got {self.worse_than_grey_weight}")
        if self.chroma_gain <= 0:
            raise ValueError(f"chroma_gain must be positive, got {self.chroma_gain}")
        if self.color_bin_size < 0:
            raise ValueError(f"color_bin_size must be 0 (regression alone) or a bin side, got {self.color_bin_size}")
        if self.annealed_mean_temperature <= 0:
            raise ValueError(f"annealed_mean_temperature must be positive, got {self.annealed_mean_temperature}")
        if not 0 <= self.classification_mix <= 1:
            raise ValueError(f"classification_mix must be in [0, 1], got {self.classification_mix}")
        for name in ("classification_mix", "confidence_power"):
            if getattr(self, name) > 0 and not self.color_bin_size:
                raise ValueError(f"{name} needs a classification head: set color_bin_size")
        if self.confidence_power < 0:
            raise ValueError(f"confidence_power must be at least 0, got {self.confidence_power}")
        if min(self.attention_scales) < 1:
            raise ValueError(f"attention_scales {self.attention_scales} must be patch sides of at least 1")
        if (
            self.backbone_config is not None
            and len(self.backbone_config.out_features) != len(self.decoder_hidden_sizes) + 1
        ):
            raise ValueError(
                f"decoder_hidden_sizes {self.decoder_hidden_sizes} needs one entry per backbone feature map but the "
                f"deepest ({self.backbone_config.out_features})"
            )

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this: one halving per downsampling block (the backbone's deepest
        stride, with a backbone)."""
        if self.backbone_config is not None:
            return 2 ** (len(self.decoder_hidden_sizes) + 1)
        return 2**NUM_DOWNSAMPLINGS

    @property
    def head_channels(self) -> int:
        """Channels of the features the regression head reads: conv10's, or the last decoder block's."""
        return self.decoder_hidden_sizes[-1] if self.backbone_config is not None else self.block_channels(NUM_BLOCKS)

    @property
    def num_color_bins(self) -> int:
        """Bins along a and along b of the classification grid (0 without one)."""
        return -(-2 * round(AB_RANGE) // self.color_bin_size) if self.color_bin_size else 0

    def block_channels(self, number: int) -> int:
        """Output channels of block ``number`` (1-10, as Zhang et al.'s conv1-conv10)."""
        return self.hidden_sizes[number - 1]

    def has_attention(self, number: int) -> bool:
        """Whether SMSA refines the output of block ``number``."""
        return self.use_smsa and number in self.attention_blocks
