"""pix2pix's patch discriminator, which the adversarial families' discriminators are made of. Each family's own
discriminator is training code in its recipe (``models/<family>/training_<family>.py``, e.g. the exemplar family's
multi-scale adversary and the cartoon family's conditional one); the trainer builds it from the model's config and
keeps it beside the model."""

from __future__ import annotations

from torch import nn


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
