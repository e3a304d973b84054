"""Image-quality metrics on RGB uint8 images."""

from __future__ import annotations

import math

import torch


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of two uint8 RGB tensors (Eq. 14-15 of paper 000, MAX = 255)."""
    if prediction.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(prediction.shape)} vs {tuple(target.shape)}")
    mse = (prediction.double() - target.double()).pow(2).mean().item()
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
