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


def test_single_hint_fades_with_distance():
    lightness = torch.zeros(1, 1, 224, 224)
    _, weight = propagate_hints(lightness, *hint_maps(224, [(112, 112, 0.5, -0.25)]))
    assert weight[0, 0, 112, 112] == pytest.approx(1.0, rel=0.1)  # one hint pixel weighs 1 where it lies
    hint_ab, hint_mask = hint_maps(224, [(112, 112, 0.5, -0.25)])
    ab, _ = propagate_hints(lightness, hint_ab, hint_mask, spatial_sigma=0.1)
    strength = ab[0, 0] / 0.5
    assert strength[112, 112] == pytest.approx(1 / (1 + FADE_WEIGHT), rel=0.1)
    assert (strength[112, 112:].diff() < 1e-3).all() and (strength[112:, 112].diff() < 1e-3).all()  # never grows
    assert strength[112, 212] < 0.1 and strength[12, 112] < 0.1  # 100 pixels (4.5 sigmas) away: nearly grey
    assert torch.allclose(ab[0, 1], -0.5 * ab[0, 0], atol=1e-6)  # the hue stays the hint's


def test_no_straight_edged_cut_off():
    """The colour falls off smoothly: no step between neighbouring pixels anywhere (the grid version stopped
    along a straight line where its truncated kernel ended)."""
    lightness = torch.zeros(1, 1, 224, 224)
    hint_ab, hint_mask = hint_maps(224, [(5, 5, 0.6, 0.3)])
    ab, _ = propagate_hints(lightness, hint_ab, hint_mask)
    assert ab[0, 0, :, 8:].diff(dim=-1).abs().max() < 0.01 and ab[0, 0, 8:].diff(dim=-2).abs().max() < 0.01


def test_no_hints_give_grey_and_zero_confidence():
    lightness = torch.rand(2, 1, 32, 48) * 2 - 1
    ab, weight = propagate_hints(lightness, torch.zeros(2, 2, 32, 48), torch.zeros(2, 1, 32, 48))
    assert ab.shape == (2, 2, 32, 48) and not ab.any() and not weight.any()


def test_colour_stops_at_lightness_edges():
    lightness = torch.full((1, 1, 64, 64), -0.8)
    lightness[..., 32:] = 0.8  # dark left half, bright right half
    hint_ab, hint_mask = hint_maps(64, [(32, 10, 0.6, 0.0)])
    ab, _ = propagate_hints(lightness, hint_ab, hint_mask)
    assert (ab[0, 0, :, :28] > 0.15).all() and ab[0, :, :, 36:].abs().max() < 0.01


def test_colour_does_not_cross_an_edge_into_a_region_of_the_hints_own_lightness():
    """Geodesic, not bilateral: a thin bright wall between two equally dark regions keeps the colour on the
    hint's side, although the far side has the hint's own lightness."""
    lightness = torch.full((1, 1, 112, 112), -0.5)
    hint_ab, hint_mask = hint_maps(112, [(56, 30, 0.6, 0.0)])
    open_ab, _ = propagate_hints(lightness, hint_ab, hint_mask)
    lightness[..., 54:58] = 0.9  # a wall from top to bottom
    walled_ab, _ = propagate_hints(lightness, hint_ab, hint_mask)
    assert open_ab[0, 0, :, 80:].mean() > 0.2
    assert walled_ab[0, 0, :, 80:].abs().max() < 0.1 * open_ab[0, 0, :, 80:].mean()


def test_works_at_sizes_that_are_not_multiples_of_the_working_factor():
    lightness = torch.linspace(-0.5, 0.5, 250).expand(1, 1, 130, 250)
    hint_ab, hint_mask = torch.zeros(1, 2, 130, 250), torch.zeros(1, 1, 130, 250)
    hint_ab[0, :, 60, 100], hint_mask[0, 0, 60, 100] = torch.tensor([0.4, 0.2]), 1
    ab, weight = propagate_hints(lightness, hint_ab, hint_mask)
    assert ab.shape == (1, 2, 130, 250) and weight.shape == (1, 1, 130, 250) and torch.isfinite(ab).all()
    assert ab[0, 0, 60, 100] > 0.2


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
