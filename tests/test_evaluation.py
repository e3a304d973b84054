import math

import torch

from hf_colorize.evaluation import psnr
from hf_colorize.evaluation.levin import levin_colorize


def test_psnr():
    a = torch.zeros(3, 4, 4, dtype=torch.uint8)
    assert psnr(a, a) == math.inf
    b = a.clone()
    b[0, 0, 0] = 255
    assert abs(psnr(a, b) - 10 * math.log10(48)) < 1e-9


def test_levin_propagates_each_hint_within_its_region():
    lightness = torch.zeros(1, 20, 20)
    lightness[:, :, 10:] = 80.0  # two flat regions split by a strong edge
    hint_ab = torch.zeros(2, 20, 20)
    hint_mask = torch.zeros(1, 20, 20)
    hint_ab[:, 5, 2] = torch.tensor([0.5, -0.2])
    hint_ab[:, 15, 17] = torch.tensor([-0.4, 0.3])
    hint_mask[:, 5, 2] = hint_mask[:, 15, 17] = 1
    ab = levin_colorize(lightness, hint_ab, hint_mask)
    assert torch.allclose(ab[:, :, :10].mean(dim=(1, 2)), torch.tensor([0.5, -0.2]), atol=0.05)
    assert torch.allclose(ab[:, :, 10:].mean(dim=(1, 2)), torch.tensor([-0.4, 0.3]), atol=0.05)
    assert levin_colorize(lightness, hint_ab, torch.zeros(1, 20, 20)).abs().sum() == 0
