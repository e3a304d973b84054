"""Levin, Lischinski & Weiss 2004, "Colorization using Optimization": the classic hint-propagation baseline.

Each unhinted pixel's chroma is the affinity-weighted mean of its 3x3 neighbours', with weights
``exp(-(Y(r) - Y(s))^2 / sigma_r^2)`` normalised to sum to one (Eq. 2 of the paper); hinted pixels keep
their hint. That is one sparse linear system per chroma channel. ``sigma_r^2`` follows the authors'
released code: 0.6 times the lightness variance of the 3x3 window, raised so that the most similar
neighbour keeps a weight of at least 0.01, and never below 2e-6.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import spsolve

_MIN_VARIANCE = 2e-6
_VARIANCE_SCALE = 0.6
_MIN_BEST_WEIGHT = 0.01


def _neighbour_affinities(lightness: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and normalised weights of the 3x3-neighbour affinity matrix of an ``(H, W)`` image."""
    height, width = lightness.shape
    padded = np.pad(lightness, 1, mode="edge")
    index = np.pad(np.arange(height * width).reshape(height, width), 1, constant_values=-1)
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    windows = np.stack([padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in offsets + [(0, 0)]])
    neighbours = np.stack([index[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in offsets])
    squared_differences = np.where(neighbours >= 0, (windows[:-1] - lightness) ** 2, np.inf)
    closest = squared_differences.min(axis=0)
    variance = np.maximum(_VARIANCE_SCALE * windows.var(axis=0), closest / -np.log(_MIN_BEST_WEIGHT))
    variance = np.maximum(variance, _MIN_VARIANCE)
    weights = np.exp(-squared_differences / variance)
    weights = np.where(neighbours >= 0, weights, 0.0)
    weights /= weights.sum(axis=0, keepdims=True)
    rows = np.broadcast_to(np.arange(height * width).reshape(height, width), neighbours.shape)
    valid = neighbours >= 0
    return rows[valid], neighbours[valid], weights[valid]


def levin_colorize(lightness: torch.Tensor, hint_ab: torch.Tensor, hint_mask: torch.Tensor) -> torch.Tensor:
    """Propagate hints over an image: lightness ``(1, H, W)`` in any scale, hints ``(2, H, W)`` / ``(1, H, W)``.

    Returns ab ``(2, H, W)`` in the hints' scale; with no hints, zeros.
    """
    height, width = lightness.shape[-2:]
    hinted = hint_mask[0].reshape(-1).numpy() > 0
    if not hinted.any():
        return torch.zeros(2, height, width)
    luma = lightness[0].double().numpy()
    luma = (luma - luma.min()) / max(luma.max() - luma.min(), 1e-12)
    rows, cols, weights = _neighbour_affinities(luma)
    size = height * width
    free = ~hinted[rows]  # hinted rows become the identity: U(r) = hint
    affinity = sparse.csr_matrix((weights[free], (rows[free], cols[free])), shape=(size, size))
    system = (sparse.identity(size, format="csr") - affinity).tocsc()
    targets = hint_ab.reshape(2, -1).double().numpy() * hinted
    solution = np.stack([spsolve(system, target) for target in targets])
    return torch.from_numpy(solution).float().reshape(2, height, width)
