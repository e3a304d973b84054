"""Global colour-statistics transfer (Reinhard, Ashikhmin, Gooch & Shirley 2001), the exemplar baseline."""

from __future__ import annotations

import torch


def reinhard_transfer(target_lab: torch.Tensor, reference_lab: torch.Tensor) -> torch.Tensor:
    """``target_lab`` ``(3, H, W)`` with each Lab channel's mean and standard deviation matched to the reference's.

    Reinhard et al. work in l-alpha-beta; here the channels are CIE L, a and b, as the exemplar benchmark states.
    A channel without spread in the target (the ab of a grey image) cannot be stretched: it takes the reference's
    mean, so a grey target comes out in the reference's average colour.
    """
    target_mean = target_lab.mean(dim=(-2, -1), keepdim=True)
    target_std = target_lab.std(dim=(-2, -1), correction=0, keepdim=True)
    reference_mean = reference_lab.mean(dim=(-2, -1), keepdim=True)
    reference_std = reference_lab.std(dim=(-2, -1), correction=0, keepdim=True)
    gain = torch.where(target_std > 1e-6, reference_std / target_std.clamp(min=1e-6), torch.zeros_like(target_std))
    return (target_lab - target_mean) * gain + reference_mean
