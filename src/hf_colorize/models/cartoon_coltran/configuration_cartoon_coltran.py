"""Cartoon ColTran model configuration."""

from dataclasses import field

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig
from transformers.backbone_utils import consolidate_backbone_kwargs_to_config

from ...backbones.configuration_efficientnet_lite import backbone_sub_configs


@strict
class CartoonColtranConfig(PreTrainedConfig):
    r"""
    Configuration of a [`CartoonColtranForColorization`]: the two-stage cartoon colorizer of Sun, Lin & Zhao, "The
    colorization based on self-attention mechanism and GAN" (paper 003 in ``shared/papers``). Stage 1 (Sec. II.C,
    Figs. 3-4, after ColTran) colours the grey image at ``coarse_size`` x ``coarse_size`` with one of
    ``2 ** (3 * color_bits)`` colours per pixel, sampled pixel by pixel, so that one grey image gets many different
    colorizations. Stage 2, the upgrading network (Sec. II.D, Fig. 5), takes the grey image at ``image_size`` and the
    upsampled coarse colours and returns ab at ``image_size``; a patch discriminator (Fig. 6) trains it (Eq. 10: GAN
    + ``mse_loss_weight`` x MSE). The model cards give the choices made where the paper is silent.

    Args:
        image_size (`int`, *optional*, defaults to 256):
            Side of the square resolution of stage 2 (the image processor resizes inputs to it); a multiple of
            `coarse_size` and of 2 ** (number of upgrader downsamplings). The paper works at 512.
        coarse_size (`int`, *optional*, defaults to 64):
            Side of stage 1's colour grid (Sec. III: 64x64).
        color_bits (`int`, *optional*, defaults to 3):
            Bits per RGB channel of stage 1's colours (Sec. III: 3-bit colour, 512 colours).
        hidden_size (`int`, *optional*, defaults to 512):
            Width of stage 1's transformer (ColTran: 512).
        num_attention_heads (`int`, *optional*, defaults to 4):
            Heads of every row / column self-attention (ColTran: 4).
        intermediate_size (`int`, *optional*, defaults to 512):
            Hidden width of the transformer's MLPs.
        encoder_layers (`int`, *optional*, defaults to 2):
            Axial blocks (row + column attention) of the grayscale encoder.
        outer_decoder_layers (`int`, *optional*, defaults to 2):
            Axial blocks (row + masked column attention) of the outer decoder.
        inner_decoder_layers (`int`, *optional*, defaults to 2):
            Masked row-attention blocks of the inner decoder.
        color_loss_lambda (`float`, *optional*, defaults to 0.99):
            lambda_c of Eq. 7: the weight of the autoregressive prediction; 1 - lambda_c weighs the auxiliary one.
        upgrader_hidden_sizes (`list[int]`, *optional*, defaults to `[64, 128, 256]`):
            Channels of the upgrading network's encoder levels, full resolution first (pix2pixHD: 64, 128, 256,
            512, 1024 at 2048x1024).
        upgrader_residual_blocks (`int`, *optional*, defaults to 9):
            Residual blocks of the medium layer (pix2pixHD's global generator: 9).
        discriminator_hidden_size (`int`, *optional*, defaults to 64):
            Channels of the discriminator's first convolution; they double at each of the next.
        discriminator_layers (`int`, *optional*, defaults to 3):
            Stride-2 convolutions of the patch discriminator (3: pix2pix's 70x70 patches).
        mse_loss_weight (`float`, *optional*, defaults to 10.0):
            lambda_r of Eq. 10.
        adversarial_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the GAN term of Eq. 10 (1 in the paper).
        num_output_channels (`int`, *optional*, defaults to 2):
            Predicted channels (a and b).
        backbone_config (`dict` or `PretrainedConfig`, *optional*):
            This project's addition to stage 1 (not in paper 003): a pretrained ImageNet encoder, in transformers'
            backbone convention (``load_backbone``), reads the grey picture at its full input size. Each of its
            `out_features` maps is projected linearly to `hidden_size`, starting at zero, resized bilinearly to the
            coarse grid and added to the grayscale encoder's embedded pixels, so that the colour transformer knows
            what it colours. `None` (the paper) has no such branch.
    """

    model_type = "cartoon_coltran"
    paper = "Sun, Lin & Zhao, The colorization based on self-attention mechanism and GAN"
    """The paper the family implements (for model cards)."""
    description = "Diverse cartoon colorizer: several different colorizations of a drawing."
    """What the family does, in one sentence (for the Space and other front ends)."""
    sub_configs_defaults = backbone_sub_configs()

    image_size: int = 256
    coarse_size: int = 64
    color_bits: int = 3
    hidden_size: int = 512
    num_attention_heads: int = 4
    intermediate_size: int = 512
    encoder_layers: int = 2
    outer_decoder_layers: int = 2
    inner_decoder_layers: int = 2
    color_loss_lambda: float | int = 0.99
    upgrader_hidden_sizes: list[int] = field(default_factory=lambda: [64, 128, 256])
    upgrader_residual_blocks: int = 9
    discriminator_hidden_size: int = 64
    discriminator_layers: int = 3
    mse_loss_weight: float | int = 10.0
    adversarial_loss_weight: float | int = 1.0
    num_output_channels: int = 2
    backbone_config: dict | PreTrainedConfig | None = None

    def __post_init__(self, **kwargs):
        # transformers' backbone keywords (``backbone``, ``backbone_kwargs``, ...) or a dict become the sub-config
        self.backbone_config, kwargs = consolidate_backbone_kwargs_to_config(self.backbone_config, **kwargs)
        self.upgrader_hidden_sizes = list(self.upgrader_hidden_sizes)
        super().__post_init__(**kwargs)
        self.validate_architecture()  # a ValueError now; strict's own run after __init__ wraps it in its error type

    def validate_architecture(self) -> None:
        """Refuse an inconsistent architecture or loss setting with a ``ValueError`` naming the fields at fault."""
        super().validate_architecture()
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} must be a multiple of num_attention_heads {self.num_attention_heads}"
            )
        if not 0 <= self.color_loss_lambda <= 1:
            raise ValueError(f"color_loss_lambda must be in [0, 1], got {self.color_loss_lambda}")
        if not 1 <= self.color_bits <= 8:
            raise ValueError(f"color_bits must be 1-8, got {self.color_bits}")
        if self.image_size % self.coarse_size or self.image_size % self.stride:
            raise ValueError(
                f"image_size {self.image_size} must be a multiple of coarse_size {self.coarse_size} and of the "
                f"upgrader's stride {self.stride}"
            )

    @property
    def num_colors(self) -> int:
        """Stage 1's colour classes: ``2 ** color_bits`` levels per RGB channel."""
        return 2 ** (3 * self.color_bits)

    @property
    def stride(self) -> int:
        """Stage 2's input sides must be multiples of this: one halving per upgrader level after the first."""
        return 2 ** (len(self.upgrader_hidden_sizes) - 1)
