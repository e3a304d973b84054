"""benchmarks/evaluate_cartoon.py's likelihood section: stage 1's bits per pixel of each image's own colours."""

import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_cartoon_config

from hf_colorize import CartoonColtranForColorization
from hf_colorize.color import rgb_to_lab
from hf_colorize.evaluation.protocol import EvalImage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from evaluate_cartoon import likelihood_scores, own_colors  # noqa: E402


def flat_images(count: int = 2) -> list[EvalImage]:
    """Pictures of one colour each, so that every pixel of their grid has the same 3-bit colour."""
    colours = torch.tensor([[0.9, 0.2, 0.1], [0.1, 0.3, 0.8]])[:count]
    return [
        EvalImage(f"flat{index}.png", rgb_to_lab(colour[:, None, None].expand(3, 40, 40)), torch.zeros(100, 2))
        for index, colour in enumerate(colours)
    ]


@pytest.fixture
def uniform_model() -> CartoonColtranForColorization:
    """A tiny stage 1 whose heads give every colour the same probability."""
    torch.manual_seed(0)
    model = CartoonColtranForColorization(tiny_cartoon_config()).eval()
    for head in (model.cartoon_coltran.head, model.cartoon_coltran.auxiliary_head):
        torch.nn.init.zeros_(head.weight)
        torch.nn.init.zeros_(head.bias)
    return model


def test_a_uniform_guess_takes_nine_bits_per_pixel(uniform_model):
    scores = likelihood_scores(uniform_model, flat_images())
    assert scores["bits_per_pixel"] == pytest.approx(9.0, abs=1e-4)
    assert scores["auxiliary_bits_per_pixel"] == pytest.approx(9.0, abs=1e-4)


def test_a_model_that_favours_the_true_colour_takes_fewer_bits(uniform_model):
    images = flat_images(count=1)
    true_colour = own_colors(uniform_model, images[0]).unique().item()
    uniform_model.cartoon_coltran.head.bias.data[true_colour] = 5.0
    scores = likelihood_scores(uniform_model, images)
    expected = -torch.log_softmax(uniform_model.cartoon_coltran.head.bias.data, dim=0)[true_colour].item()
    assert scores["bits_per_pixel"] == pytest.approx(expected / torch.log(torch.tensor(2.0)).item(), rel=1e-4)
    assert scores["bits_per_pixel"] < 9 - 5 and scores["auxiliary_bits_per_pixel"] == pytest.approx(9.0, abs=1e-4)
