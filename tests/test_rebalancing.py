import pytest
import torch

from hf_colorize.modeling_utils import ab_huber_loss
from hf_colorize.rebalancing import BINS_PER_AXIS, ab_bin_index, in_gamut_bins, rebalancing_weights


def two_colour_batch(rare_pixels: int = 4) -> torch.Tensor:
    """ab (CIE units) of a 16x16 image: grey-beige everywhere but ``rare_pixels`` saturated red ones."""
    ab = torch.zeros(1, 2, 16, 16)
    ab[:, 0], ab[:, 1] = 3.0, 8.0
    ab[0, :, 0, :rare_pixels] = torch.tensor([60.0, 40.0]).view(2, 1)
    return ab


def test_bins_cover_the_ab_plane():
    ab = torch.tensor([[-110.0, -110.0], [109.9, 109.9], [0.0, 0.0], [500.0, -500.0]]).view(4, 2, 1, 1)
    last = BINS_PER_AXIS - 1
    assert ab_bin_index(ab).flatten().tolist() == [0, last * BINS_PER_AXIS + last, 11 * BINS_PER_AXIS + 11, last * 22]
    gamut = in_gamut_bins()
    assert gamut[11, 11] and not gamut[0, 0] and 200 < gamut.sum() < 320


def test_rare_colours_weigh_more_and_the_mean_weight_is_one():
    ab = two_colour_batch()
    weights = rebalancing_weights(ab)
    assert weights.shape == (1, 1, 16, 16)
    assert torch.isclose(weights.mean(), torch.tensor(1.0))
    assert weights[0, 0, 0, 0] > 5 * weights[0, 0, 8, 8]


def test_a_larger_uniform_mix_flattens_the_weights():
    ab = two_colour_batch()
    ratios = [(lambda w: w[0, 0, 0, 0] / w[0, 0, 8, 8])(rebalancing_weights(ab, mix)) for mix in (0.1, 0.5, 1.0)]
    assert ratios[0] > ratios[1] > ratios[2] and torch.isclose(ratios[2], torch.tensor(1.0))
    with pytest.raises(ValueError, match="uniform_mix"):
        rebalancing_weights(ab, 0.0)


def test_rebalanced_huber_loss_weights_each_pixel():
    labels = two_colour_batch() / 110
    prediction = torch.zeros_like(labels)
    plain = ab_huber_loss(prediction, labels, delta=1.0)
    rebalanced = ab_huber_loss(prediction, labels, delta=1.0, rebalancing_mix=0.5)
    per_pixel = torch.nn.functional.huber_loss(prediction, labels * 110, delta=1.0, reduction="none")
    assert torch.isclose(rebalanced, (rebalancing_weights(labels * 110) * per_pixel).mean())
    assert rebalanced > plain  # the rare red pixels carry the largest errors and now weigh more
