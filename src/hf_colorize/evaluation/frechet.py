"""Fréchet distance between two sets of image features (the FID of Heusel et al. 2017 when the features are
Inception-v3's pool3), with a pluggable feature extractor.

No Inception weights can be downloaded here, so the default extractor, :func:`colour_statistics_features`, needs
none: it describes each image's colours (an ab histogram and the mean ab of a coarse grid). A distance computed
with it says how close two sets are in colour, not in content, and is named for its features in every table
("FCD"). :func:`torchscript_features` plugs in any TorchScript module, e.g. an Inception-v3 feature extractor a
user has, for the real FID.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..color import rgb_to_lab

FeatureExtractor = Callable[[torch.Tensor], torch.Tensor]
"""uint8 RGB images ``(B, 3, H, W)`` -> one feature vector per image ``(B, D)``."""

COLOUR_HISTOGRAM_BINS = 4
COLOUR_LAYOUT_GRID = 2
COLOUR_FEATURES_NAME = "colour statistics (4x4-bin ab histogram + mean ab on a 2x2 grid)"


def colour_statistics_features(images: torch.Tensor) -> torch.Tensor:
    """24 numbers per image: the share of pixels in each of 4 x 4 ab bins over [-110, 110], and the mean a and b
    of each quarter of the image (divided by 110)."""
    ab = rgb_to_lab(images.float() / 255.0)[:, 1:] / 110.0
    bins = ((ab.clamp(-1, 1 - 1e-6) + 1) / 2 * COLOUR_HISTOGRAM_BINS).long()
    index = bins[:, 0] * COLOUR_HISTOGRAM_BINS + bins[:, 1]
    histogram = F.one_hot(index.flatten(1), COLOUR_HISTOGRAM_BINS**2).float().mean(dim=1)
    layout = F.adaptive_avg_pool2d(ab, COLOUR_LAYOUT_GRID).flatten(1)
    return torch.cat([histogram, layout], dim=1)


def torchscript_features(path: str | Path) -> FeatureExtractor:
    """A feature extractor from a TorchScript file whose module maps float RGB ``(B, 3, H, W)`` in [0, 1] to
    ``(B, D)`` features (resizing and normalising inside, as Inception feature extractors do)."""
    module = torch.jit.load(str(path), map_location="cpu").eval()

    @torch.no_grad()
    def extract(images: torch.Tensor) -> torch.Tensor:
        return module(images.float() / 255.0).flatten(1)

    return extract


def extract_features(
    images: Sequence[torch.Tensor], extractor: FeatureExtractor = colour_statistics_features, batch_size: int = 16
) -> np.ndarray:
    """Features ``(N, D)`` of uint8 RGB images of one size, in batches."""
    batches = [
        extractor(torch.stack(list(images[start : start + batch_size]))) for start in range(0, len(images), batch_size)
    ]
    return torch.cat(batches).double().numpy()


def frechet_distance(first: np.ndarray, second: np.ndarray, epsilon: float = 1e-6) -> float:
    """||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)) between Gaussians fitted to two feature sets
    ``(N, D)``: the exact matrix square root (``scipy.linalg.sqrtm``), with ``epsilon`` added to the diagonals
    when the product is singular (as the reference FID code does)."""
    from scipy import linalg

    if first.ndim != 2 or second.ndim != 2 or first.shape[1] != second.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with the same D, got {first.shape} and {second.shape}")
    if min(len(first), len(second)) < 2:
        raise ValueError("each feature set needs at least two samples")
    mean_difference = first.mean(axis=0) - second.mean(axis=0)
    first_covariance, second_covariance = np.cov(first, rowvar=False), np.cov(second, rowvar=False)
    root = linalg.sqrtm(first_covariance @ second_covariance)
    if not np.isfinite(root).all():
        offset = np.eye(first.shape[1]) * epsilon
        root = linalg.sqrtm((first_covariance + offset) @ (second_covariance + offset))
    root = root.real
    trace = np.trace(first_covariance) + np.trace(second_covariance) - 2 * np.trace(root)
    return float(mean_difference @ mean_difference + trace)
