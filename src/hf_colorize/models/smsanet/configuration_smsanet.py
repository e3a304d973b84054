"""SMSANet model configuration."""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig
from transformers.backbone_utils import consolidate_backbone_kwargs_to_config

NUM_BLOCKS = 10
"""Zhang et al.'s conv1-conv10: seven encoder blocks, then three upsampling blocks."""

NUM_DOWNSAMPLINGS = 3
"""Blocks 1-3 each halve the resolution for the block after them."""


class SmsanetConfig(PretrainedConfig):
    r"""
    Configuration of a [`SmsanetModel`] / [`SmsanetForColorization`]: the automatic colorizer of Jiang, Xu, Xia,
    Yang, Huang & Huang, "Stacked multi-scale attention network for image colorization" (paper 004 in
    ``shared/papers``).

    The network reads only the lightness. Its feature extraction and reconstruction modules are the network of
    Zhang et al. 2017, "Real-time user-guided image colorization with learned deep priors" (Sec. 2.1) without
    the local-hint input: conv1-conv4 (stride-2 subsampling after blocks 1-3), conv5-conv6 dilated by 2, conv7,
    then conv8-conv10, each opening with a 4x4 stride-2 transposed convolution summed with a 3x3 convolution of
    the shortcut from conv3, conv2 and conv1; batch norm closes every block but conv10; a 1x1 convolution and a
    tanh regress ab scaled by 1/110. Stacked multi-scale attention (SMSA, Sec. 2.2, Eqs. 1-4) refines the
    output of chosen blocks. The loss is Huber (Eq. 5) plus ``salient_loss_weight`` times the salient loss
    (Eqs. 6-7).

    Choices where the paper is silent or vague:
    - Placement of SMSA (``attention_blocks``): after conv5, conv6 and conv7. Sec. 2.1 places a "stacked
      multi-scale attention module" between the feature extraction module, which "progressively extracts
      higher-level semantic information" (conv1-conv4, down to 1/8 resolution), and the reconstruction module,
      which "gradually maps the features into ab" (conv8-conv10, back up to full resolution); the abstract
      stacks the attention layers "in different convolutional layers". conv5-conv7 are the three blocks
      between the two, all at 1/8 resolution, so one SMSA follows each, as CBAM (Woo et al. 2018, the
      paper's [17]) puts one module after every block it refines. Sec. 3.4 calls SMSANet "SMSA embedded into
      BaseNet", so the blocks themselves stay Zhang et al.'s.
    - Scales (``attention_scales``): Eq. 1 pools the channel max and mean over patches of side ``2**k``. The
      default scales 1, 2 and 4 include full resolution (k = 0, CBAM's only scale, so one scale gives CBAM's
      spatial attention back) and all divide the 28x28 maps of conv5-conv7 at 224x224; each patch keeps
      the max of the channel max and the mean of the channel mean. Each scale has its own 3x3 convolution
      (Eq. 2) and its sigmoid map is upsampled bilinearly to the block's size.
    - Order: channel attention first, then the spatial maps pooled from the channel-refined features, as
      CBAM's sequential channel-then-spatial arrangement, which Eq. 4 says SMSA follows. The channel branch is
      Eq. 2's global-average-pooled two-layer MLP (SENet, [18]) with the reduction ratio 16 of SENet and CBAM.
    - Weights lambda_i in (0, 1) (Eq. 3): ``lambda_i = sigmoid(w_i)`` of free parameters ``w_i``, initialised
      to 0 (every scale weighs 1/2).
    - Salient loss (Eq. 6): the paper's saliency network, PFANet, has no weights we can ship, so the saliency
      comes from a function of the lightness (default: the spectral residual of Hou & Zhang 2007,
      :func:`hf_colorize.saliency.spectral_residual_saliency`; any other can be given to
      [`SmsanetForColorization`], see there). True and predicted images share their lightness, so they share
      one saliency map ``S``, their L channels cancel in Eq. 6, and the loss is the mean over pixels and the
      two ab channels of ``S * |ab_true - ab_predicted|`` in CIE ab units: Eq. 6's norm is unspecified; L1
      keeps the term on the Huber term's scale, as Eq. 7's weight 1 suggests.
    - Colour rebalancing (``use_color_rebalancing``, an option the paper does not have, off by default and in
      the published variants): Zhang, Isola & Efros 2016 (the paper's [31]) weigh each pixel by the rarity of
      its true colour; with the option on, the Huber term of Eq. 5 is weighted so (:mod:`hf_colorize.rebalancing`,
      the colour distribution estimated per batch); the salient term stays as Eq. 6 writes it. The Huber loss
      with delta = 1 CIE unit is nearly an L1 loss, whose median predictions are not washed out, and in our CPU
      trainings rebalancing gave bold colours that were often wrong (a warm cast on neutral photos).
    - Chroma gain (``chroma_gain``, an option the paper does not have, 1 by default, 1.4 in `smsanet-small`): a
      regression trained with an L1-like loss predicts a middle colour where several are plausible, so its output
      is paler than the truth (Zhang, Isola & Efros 2016 (the paper's [31]), Sec. 2.1, desaturated regression;
      their annealed mean, Sec. 2.2, moves the prediction from the mean towards the mode for the same reason).
      With a regression head there is no distribution to anneal, so the output ab is multiplied by
      ``chroma_gain`` and clipped to the head's range [-1, 1]; the loss stays on the head's own output.
    - Downsampling: as in Zhang et al.'s network, block 2, 3 and 4 read every second pixel of the previous
      block's output, whose full-resolution form feeds the shortcut.
    - A pretrained encoder (``backbone_config``, this project's addition): the paper trains on the 1.2 M ImageNet
      pictures, so its feature extraction module knows what it colours; trained on a few thousand pictures it does
      not. With ``backbone_config`` set (an EfficientNet-Lite, :mod:`hf_colorize.backbones`, started from ImageNet
      weights by the trainer's ``--pretrained_backbone``), that network replaces conv1-conv7: it reads the grey
      picture of the lightness, and the reconstruction module climbs back from its deepest feature map (stride 32)
      with one conv8-style block per halving up to stride 2 (``decoder_hidden_sizes``), each taking the backbone's
      feature map of its resolution as the shortcut, as conv8-conv10 take conv3-conv1's. SMSA refines the
      backbone's deepest features and the decoder blocks at strides 16 and 8, the place between extraction and
      reconstruction where it sits in the base network. The head regresses ab at stride 2; it is upsampled
      bilinearly to the input's size.

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
            Numbers (1-10, as conv1-conv10) of the blocks whose output SMSA refines; see the placement above.
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
            Weigh the Huber term by the rarity of each pixel's true colour (Zhang et al. 2016, Eq. 4; see above).
        rebalancing_uniform_mix (`float`, *optional*, defaults to 0.5):
            Zhang et al.'s lambda in (0, 1]: the share of the uniform distribution mixed into the colour
            distribution before inverting it; 1 weighs every pixel alike.
        chroma_gain (`float`, *optional*, defaults to 1.0):
            Factor on the predicted ab at the output (see above); 1 leaves the head's output as it is, larger
            values give more saturated colours. The loss ignores it.
        backbone_config (`dict` or `PretrainedConfig`, *optional*):
            A pretrained encoder in place of conv1-conv7 (see above), in transformers' backbone convention
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
    sub_configs = {"backbone_config": AutoConfig}

    def __init__(
        self,
        image_size: int = 224,
        num_channels: int = 1,
        hidden_sizes: list[int] | None = None,
        block_depths: list[int] | None = None,
        dilations: list[int] | None = None,
        use_smsa: bool = True,
        attention_blocks: list[int] | None = None,
        attention_scales: list[int] | None = None,
        attention_reduction: int = 16,
        attention_kernel_size: int = 3,
        num_output_channels: int = 2,
        huber_delta: float = 1.0,
        use_salient_loss: bool = True,
        salient_loss_weight: float = 1.0,
        use_color_rebalancing: bool = False,
        rebalancing_uniform_mix: float = 0.5,
        chroma_gain: float = 1.0,
        backbone_config: dict | PretrainedConfig | None = None,
        decoder_hidden_sizes: list[int] | None = None,
        decoder_depth: int = 2,
        **kwargs,
    ):
        self.backbone_config, kwargs = consolidate_backbone_kwargs_to_config(backbone_config, **kwargs)
        self.decoder_hidden_sizes = list(decoder_hidden_sizes or [128, 96, 64, 32])
        self.decoder_depth = decoder_depth
        super().__init__(**kwargs)
        self.image_size = image_size
        self.num_channels = num_channels
        self.hidden_sizes = list(hidden_sizes or [64, 128, 256, 512, 512, 512, 512, 256, 128, 128])
        self.block_depths = list(block_depths or [2, 2, 3, 3, 3, 3, 3, 3, 2, 2])
        self.dilations = list(dilations or [1, 1, 1, 1, 2, 2, 1, 1, 1, 1])
        self.use_smsa = use_smsa
        self.attention_blocks = list(attention_blocks if attention_blocks is not None else [5, 6, 7])
        self.attention_scales = list(attention_scales or [1, 2, 4])
        self.attention_reduction = attention_reduction
        self.attention_kernel_size = attention_kernel_size
        self.num_output_channels = num_output_channels
        self.huber_delta = huber_delta
        self.use_salient_loss = use_salient_loss
        self.salient_loss_weight = salient_loss_weight
        self.use_color_rebalancing = use_color_rebalancing
        self.rebalancing_uniform_mix = rebalancing_uniform_mix
        self.chroma_gain = chroma_gain
        for name in ("hidden_sizes", "block_depths", "dilations"):
            if len(getattr(self, name)) != NUM_BLOCKS:
                raise ValueError(f"{name} needs one entry per block conv1-conv{NUM_BLOCKS}, got {getattr(self, name)}")
        if min(self.block_depths) < 1:
            raise ValueError(f"every block needs at least one convolution, got block_depths {self.block_depths}")
        if not set(self.attention_blocks) <= set(range(1, NUM_BLOCKS + 1)):
            raise ValueError(f"attention_blocks {self.attention_blocks} must be block numbers 1-{NUM_BLOCKS}")
        if not 0 < rebalancing_uniform_mix <= 1:
            raise ValueError(f"rebalancing_uniform_mix must be in (0, 1], got {rebalancing_uniform_mix}")
        if chroma_gain <= 0:
            raise ValueError(f"chroma_gain must be positive, got {chroma_gain}")
        if min(self.attention_scales) < 1:
            raise ValueError(f"attention_scales {self.attention_scales} must be patch sides of at least 1")
        if self.backbone_config is not None and len(self.backbone_config.out_features) != len(
            self.decoder_hidden_sizes
        ) + 1:
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

    def block_channels(self, number: int) -> int:
        """Output channels of block ``number`` (1-10, as Zhang et al.'s conv1-conv10)."""
        return self.hidden_sizes[number - 1]

    def has_attention(self, number: int) -> bool:
        """Whether SMSA refines the output of block ``number``."""
        return self.use_smsa and number in self.attention_blocks
