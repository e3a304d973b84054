"""The discriminators of the adversarial families, which only training needs: pix2pix's patch discriminator, the
exemplar family's multi-scale adversary (paper 002, Sec. 3.3) and the cartoon family's conditional one (paper 003,
Fig. 6). The trainer builds them from the family's config and keeps them beside the model."""

from __future__ import annotations

import torch
from torch import nn

from ..models.axial_exemplar import AxialExemplarConfig
from ..models.axial_exemplar.modeling_axial_exemplar import pyramid
from ..models.cartoon_coltran import CartoonColtranConfig


class PatchDiscriminator(nn.Sequential):
    """The patch discriminator of pix2pix (Isola et al. 2017): ``layers`` 4x4 stride-2 convolutions from
    ``hidden_size`` channels, doubling (LeakyReLU 0.2, batch norm after all but the first), then a 3x3 convolution
    to one logit per patch."""

    def __init__(self, in_channels: int, hidden_size: int, layers: int):
        modules: list[nn.Module] = []
        for index in range(layers):
            channels = hidden_size * 2**index
            modules.append(nn.Conv2d(in_channels, channels, kernel_size=4, stride=2, padding=1))
            modules += [nn.BatchNorm2d(channels)] if index else []
            modules.append(nn.LeakyReLU(0.2))
            in_channels = channels
        modules.append(nn.Conv2d(in_channels, 1, kernel_size=3, padding=1))
        super().__init__(*modules)


class AxialExemplarDiscriminator(nn.Module):
    """The multi-scale adversary of Sec. 3.3: one patch discriminator per prediction level (pix2pix's, the paper's
    [22]), each judging (L, ab) at its scale (normalised Lab), trained with LSGAN."""

    def __init__(self, config: AxialExemplarConfig):
        super().__init__()
        channels = 1 + config.num_output_channels
        self.scales = nn.ModuleList(
            PatchDiscriminator(channels, config.discriminator_hidden_size, config.discriminator_layers)
            for _ in range(config.num_levels - 1)
        )

    def forward(self, images: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """Patch logits for each scale's ``(B, 3, H_l, W_l)`` image, finest first."""
        if len(images) != len(self.scales):
            raise ValueError(f"expected {len(self.scales)} scales of (L, ab) images, got {len(images)}")
        return tuple(discriminator(image) for discriminator, image in zip(self.scales, images))


def pyramid_lab(lightness: torch.Tensor, pyramid_ab: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """(L, ab) at each level of a prediction pyramid, the lightness average-pooled alike: what the
    :class:`AxialExemplarDiscriminator` judges."""
    return tuple(torch.cat([level, ab], dim=1) for level, ab in zip(pyramid(lightness, len(pyramid_ab)), pyramid_ab))


class CartoonColtranDiscriminator(PatchDiscriminator):
    """Fig. 6: a conditional patch discriminator (pix2pix) judging (L, upsampled coarse ab, ab) at stage 2's
    resolution, trained beside the upgrading network (``examples/train.py --stage upgrader``)."""

    def __init__(self, config: CartoonColtranConfig):
        channels = 1 + 2 * config.num_output_channels
        super().__init__(channels, config.discriminator_hidden_size, config.discriminator_layers)
