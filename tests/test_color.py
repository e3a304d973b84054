import numpy as np
import pytest
import torch
from skimage import color as skcolor

from hf_colorize.color import (
    denormalize_ab,
    denormalize_lightness,
    lab_to_rgb,
    lab_to_rgb_in_gamut,
    normalize_ab,
    normalize_lightness,
    rgb_to_lab,
)


@pytest.fixture(scope="module")
def random_rgb() -> np.ndarray:
    rgb = np.random.default_rng(0).random((1, 100_000, 3))
    corners = np.array([[[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.002, 0.001, 0.003]]])
    return np.concatenate([rgb, corners], axis=1)


def test_rgb_to_lab_matches_scikit_image(random_rgb):
    expected = skcolor.rgb2lab(random_rgb)
    lab = rgb_to_lab(torch.from_numpy(random_rgb).float().permute(2, 0, 1)).permute(1, 2, 0).double().numpy()
    assert np.abs(lab - expected).max() < 1e-3


def test_lab_to_rgb_round_trip_within_one_level(random_rgb):
    rgb = torch.from_numpy(random_rgb).float().permute(2, 0, 1)
    back = lab_to_rgb(rgb_to_lab(rgb))
    assert (back - rgb).abs().max().item() < 1 / 255


def test_lab_to_rgb_matches_scikit_image_inverse(random_rgb):
    lab = skcolor.rgb2lab(random_rgb)
    rgb = lab_to_rgb(torch.from_numpy(lab).float().permute(2, 0, 1)).permute(1, 2, 0).double().numpy()
    assert np.abs(rgb - random_rgb).max() < 1 / 255


def test_batched_and_differentiable():
    rgb = torch.rand(2, 5, 3, 4, 6, dtype=torch.float64, requires_grad=True)
    lab = rgb_to_lab(rgb)
    assert lab.shape == rgb.shape
    lab_to_rgb(lab).sum().backward()
    assert torch.isfinite(rgb.grad).all()
    black = torch.zeros(1, 3, 2, 2, requires_grad=True)
    rgb_to_lab(black).sum().backward()
    assert torch.isfinite(black.grad).all()


def test_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="3 channels"):
        rgb_to_lab(torch.zeros(2, 4, 4))


def test_normalisation_matches_api_conventions():
    lightness = torch.tensor([0.0, 50.0, 100.0])
    assert torch.allclose(normalize_lightness(lightness), torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.allclose(denormalize_lightness(normalize_lightness(lightness)), lightness)
    assert torch.allclose(normalize_ab(torch.tensor([110.0, -55.0])), torch.tensor([1.0, -0.5]))
    assert torch.allclose(denormalize_ab(torch.tensor([1.0])), torch.tensor([110.0]))


@pytest.mark.parametrize("level", [10.0, 60.0])  # dark colours leave the gamut through negative linear RGB
def test_in_gamut_conversion_keeps_lightness(level):
    lightness = torch.full((1, 8, 8), level)
    ab = torch.full((2, 8, 8), 120.0)  # far outside sRGB
    rgb = lab_to_rgb_in_gamut(lightness, ab)
    assert (rgb >= 0).all() and (rgb <= 1).all()
    assert (rgb_to_lab(rgb)[0] - level).abs().max() < 0.05
    assert rgb_to_lab(rgb)[1:].abs().mean() > 5  # chroma is reduced, not dropped
