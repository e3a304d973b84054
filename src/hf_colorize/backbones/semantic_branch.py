"""A pretrained ImageNet encoder read beside a family's own network: the grey picture goes through the backbone of
the model's ``backbone_config`` (``load_backbone``), and each feature map is projected linearly to the channels the
family adds it to. The projections start at zero (each family's ``_init_weights`` zeroes a
:class:`SemanticProjection`), so a branch added to a trained model changes nothing until it is trained."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig
from transformers.backbone_utils import load_backbone

from .modeling_efficientnet_lite import lightness_to_backbone_pixels


class SemanticProjection(nn.Linear):
    """The linear map of one backbone feature map onto the channels it is added to; zero at initialisation."""


class SemanticBranch(nn.Module):
    """The backbone of ``config.backbone_config`` and one :class:`SemanticProjection` per feature map, onto
    ``out_channels[i]`` channels for map ``i``."""

    def __init__(self, config: PretrainedConfig, out_channels: list[int]):
        super().__init__()
        self.backbone = load_backbone(config)
        if len(out_channels) != len(self.backbone.channels):
            raise ValueError(
                f"the backbone gives {len(self.backbone.channels)} feature maps ({config.backbone_config.out_features})"
                f" but {len(out_channels)} projections were asked for"
            )
        self.projections = nn.ModuleList(
            SemanticProjection(channels, out) for channels, out in zip(self.backbone.channels, out_channels)
        )

    def forward(self, lightness: torch.Tensor) -> list[torch.Tensor]:
        """Channels-last maps ``(B, h_i, w_i, out_channels[i])`` from the lightness ``(B, 1, H, W)`` in [-1, 1]."""
        feature_maps = self.backbone(lightness_to_backbone_pixels(lightness), return_dict=True).feature_maps
        return [project(features.permute(0, 2, 3, 1)) for project, features in zip(self.projections, feature_maps)]


__all__ = ["SemanticBranch", "SemanticProjection"]
