import pytest
import torch
from conftest import tiny_config

from hf_colorize import DlsaForColorization
from hf_colorize.propagation import FADE_WEIGHT, propagate_hints


def hint_maps(size, hints):
    """Hint ab and mask of ``size x size`` with ``(row, col, a, b)`` hint pixels."""
    hint_ab, hint_mask = torch.zeros(1, 2, size, size), torch.zeros(1, 1, size, size)
    for row, col, a, b in hints:
        hint_ab[0, :, row, col] = torch.tensor([a, b])
        hint_mask[0, 0, row, col] = 1
    return hint_ab, hint_mask


def exact_bilateral(lightness, hint_ab, hint_mask, spatial_sigma, range_sigma):
    """The filter the grid approximates, summed over hint pixels directly (with the same fade to grey)."""
    size = lightness.shape[-1]
    rows, cols = torch.nonzero(hint_mask[0, 0], as_tuple=True)
    grid_rows, grid_cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    distance2 = (grid_rows - rows[:, None, None]) ** 2 + (grid_cols - cols[:, None, None]) ** 2
    lightness_difference = lightness[0, 0] - lightness[0, 0, rows, cols][:, None, None]
    weights = torch.exp(-distance2 / (2 * (spatial_sigma * size) ** 2) - lightness_difference**2 / (2 * range_sigma**2))
    return torch.einsum("khw,ck->chw", weights, hint_ab[0][:, rows, cols]) / (weights.sum(0) + FADE_WEIGHT)


def test_single_hint_colours_its_surroundings():
    lightness = torch.zeros(1, 1, 64, 64)
    hint_ab, hint_mask = hint_maps(64, [(30, 30, 0.5, -0.25)])
    ab, weight = propagate_hints(lightness, hint_ab, hint_mask)
    assert torch.allclose(ab[0, :, 25:36, 25:36], torch.tensor([0.5, -0.25]).view(2, 1, 1), atol=0.01)
    assert weight[0, 0, 30, 30] == pytest.approx(1.0, rel=0.1)  # one hint pixel weighs 1 where it lies


def test_no_hints_give_grey_and_zero_confidence():
    lightness = torch.rand(2, 1, 32, 48) * 2 - 1
    ab, weight = propagate_hints(lightness, torch.zeros(2, 2, 32, 48), torch.zeros(2, 1, 32, 48))
    assert ab.shape == (2, 2, 32, 48) and not ab.any() and not weight.any()


def test_colour_stops_at_lightness_edges():
    lightness = torch.full((1, 1, 64, 64), -0.8)
    lightness[..., 32:] = 0.8  # dark left half, bright right half
    hint_ab, hint_mask = hint_maps(64, [(32, 10, 0.6, 0.0), (32, 54, -0.6, 0.0)])
    ab, _ = propagate_hints(lightness, hint_ab, hint_mask)
    assert (ab[0, 0, :, :30] > 0.55).all() and (ab[0, 0, :, 34:] < -0.55).all()


def test_grid_matches_the_exact_filter():
    torch.manual_seed(0)
    rows, cols = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    lightness = torch.sin(rows / 9 + cols / 13).view(1, 1, 64, 64) * 0.8
    hints = [
        (int(r), int(c), float(a), float(b))
        for r, c, a, b in zip(*torch.randint(0, 64, (2, 12)), *torch.rand(2, 12) - 0.5)
    ]
    hint_ab, hint_mask = hint_maps(64, hints)
    ab, _ = propagate_hints(lightness, hint_ab, hint_mask, spatial_sigma=0.22, range_sigma=0.2)
    exact = exact_bilateral(lightness, hint_ab, hint_mask, 0.22, 0.2)
    error = (ab[0] - exact).abs()  # hint colours span 1.0; a 2-cells-per-sigma grid is good to a few percent
    assert error.mean() < 0.025 and error.max() < 0.25


def test_bad_sigma_is_named():
    with pytest.raises(ValueError, match="sigmas must be positive"):
        propagate_hints(torch.zeros(1, 1, 8, 8), torch.zeros(1, 2, 8, 8), torch.zeros(1, 1, 8, 8), spatial_sigma=0)


def test_model_predicts_a_residual_on_the_propagated_hints(tmp_path):
    model = DlsaForColorization(tiny_config(hint_propagation=True)).eval()
    torch.nn.init.zeros_(model.head.reconstruction.weight)
    torch.nn.init.zeros_(model.head.reconstruction.bias)
    lightness = torch.rand(1, 1, 64, 64) * 2 - 1
    hint_ab, hint_mask = hint_maps(64, [(10, 10, 0.3, 0.1), (50, 40, -0.2, 0.4)])
    pixel_values = torch.cat([lightness, hint_ab, hint_mask], dim=1)
    with torch.no_grad():
        outputs = model(pixel_values)
        hidden = model.dlsa(pixel_values)
    expected, weight = propagate_hints(lightness, hint_ab, hint_mask)
    assert torch.allclose(outputs.ab, expected, atol=1e-6)  # a zero residual leaves the propagation
    assert torch.allclose(hidden.hint_prior, torch.cat([expected, weight / (1 + weight)], dim=1))
    model.save_pretrained(tmp_path)
    assert DlsaForColorization.from_pretrained(tmp_path).config.hint_propagation is True
