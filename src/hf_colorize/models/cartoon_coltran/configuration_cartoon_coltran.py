"""Cartoon ColTran model configuration."""

from __future__ import annotations

from transformers import PretrainedConfig


class CartoonColtranConfig(PretrainedConfig):
    r"""
    Configuration of a [`CartoonColtranForColorization`]: the two-stage cartoon colorizer of Sun, Lin & Zhao, "The
    colorization based on self-attention mechanism and GAN" (paper 003 in ``shared/papers``).

    Stage 1 (Sec. II.C, Figs. 3-4) colours the grey image at ``coarse_size`` x ``coarse_size`` with one of
    ``2 ** (3 * color_bits)`` colours per pixel (3 bits per RGB channel: 512), sampled pixel by pixel, so that
    one grey image gets many different colorizations. Stage 2, the upgrading network (Sec. II.D, Fig. 5), takes
    the grey image at ``image_size`` and the upsampled coarse colours and returns ab at ``image_size``; a patch
    discriminator (Fig. 6) trains it (Eq. 10: GAN + ``mse_loss_weight`` x MSE).

    Choices where the paper is silent or vague (it builds stage 1 on ColTran, Kumar, Weissenborn & Kalchbrenner
    2021, its [5], whose coarse colorizer this follows):
    - Stage 1 is ColTran's autoregressive colorizer: a grayscale encoder of axial blocks (row then column
      self-attention, each followed by an MLP, Eq. 5) gives the context; an outer decoder reads the colours of the
      rows above (colour embeddings shifted down one row: full row attention, then column attention masked to
      earlier rows); an inner decoder reads the pixels to the left in the row (embeddings shifted right one
      pixel, row attention masked to earlier pixels) plus the outer decoder's state. Every decoder layer is
      conditioned on the context as in ColTran: conditional layer norm (scale and shift from the image's
      average context) and conditional attention / MLP (per-pixel scale and shift of their projections). A
      linear head on the encoder's context alone gives the auxiliary prediction P~_c of Eq. 7.
    - Eq. 7's loss, L_c = -(lambda_c log P_c + (1 - lambda_c) log P~_c) averaged over pixels, lambda_c = 0.99
      (Sec. III), as ColTran's auxiliary parallel loss.
    - Widths: ColTran's colorizer has 2 layers in each of the encoder, outer and inner decoder, 4 heads and
      hidden size 512; the published variants choose smaller widths for CPU training.
    - Upgrading network (Fig. 5: encoder, medium layer, decoder): pix2pixHD's global generator (Wang et al.
      2018, the paper's [11]): a 7x7 convolution, ``len(upgrader_hidden_sizes) - 1`` stride-2 convolutions,
      ``upgrader_residual_blocks`` residual blocks with instance norm ([18], [19]), as many 2x upsamplings, a
      7x7 convolution to ab. Its input is the lightness and the coarse colours' ab, upsampled bilinearly; it
      predicts a correction to that upsampled ab (zero at initialisation), so training starts from Table I's
      interpolation baseline.
    - Discriminator (Fig. 6): a conditional patch discriminator (pix2pix, as pix2pixHD) judging (L, upsampled
      coarse ab, ab), ``discriminator_layers`` 4x4 stride-2 convolutions; Eq. 9's log loss (non-saturating for
      the generator).
    - MSE of Eq. 10 on ab scaled by 1/110.

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
    """

    model_type = "cartoon_coltran"
    paper = "Sun, Lin & Zhao, The colorization based on self-attention mechanism and GAN"
    """The paper the family implements (for model cards)."""
    description = "Diverse cartoon colorizer: several different colorizations of a drawing."
    """What the family does, in one sentence (for the Space and other front ends)."""

    def __init__(
        self,
        image_size: int = 256,
        coarse_size: int = 64,
        color_bits: int = 3,
        hidden_size: int = 512,
        num_attention_heads: int = 4,
        intermediate_size: int = 512,
        encoder_layers: int = 2,
        outer_decoder_layers: int = 2,
        inner_decoder_layers: int = 2,
        color_loss_lambda: float = 0.99,
        upgrader_hidden_sizes: list[int] | None = None,
        upgrader_residual_blocks: int = 9,
        discriminator_hidden_size: int = 64,
        discriminator_layers: int = 3,
        mse_loss_weight: float = 10.0,
        adversarial_loss_weight: float = 1.0,
        num_output_channels: int = 2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.coarse_size = coarse_size
        self.color_bits = color_bits
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.encoder_layers = encoder_layers
        self.outer_decoder_layers = outer_decoder_layers
        self.inner_decoder_layers = inner_decoder_layers
        self.color_loss_lambda = color_loss_lambda
        self.upgrader_hidden_sizes = list(upgrader_hidden_sizes or [64, 128, 256])
        self.upgrader_residual_blocks = upgrader_residual_blocks
        self.discriminator_hidden_size = discriminator_hidden_size
        self.discriminator_layers = discriminator_layers
        self.mse_loss_weight = mse_loss_weight
        self.adversarial_loss_weight = adversarial_loss_weight
        self.num_output_channels = num_output_channels
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"hidden_size {hidden_size} must be a multiple of num_attention_heads {num_attention_heads}"
            )
        if not 0 <= color_loss_lambda <= 1:
            raise ValueError(f"color_loss_lambda must be in [0, 1], got {color_loss_lambda}")
        if not 1 <= color_bits <= 8:
            raise ValueError(f"color_bits must be 1-8, got {color_bits}")
        if image_size % coarse_size or image_size % self.stride:
            raise ValueError(
                f"image_size {image_size} must be a multiple of coarse_size {coarse_size} and of the upgrader's "
                f"stride {self.stride}"
            )

    @property
    def num_colors(self) -> int:
        """Stage 1's colour classes: ``2 ** color_bits`` levels per RGB channel."""
        return 2 ** (3 * self.color_bits)

    @property
    def stride(self) -> int:
        """Stage 2's input sides must be multiples of this: one halving per upgrader level after the first."""
        return 2 ** (len(self.upgrader_hidden_sizes) - 1)
