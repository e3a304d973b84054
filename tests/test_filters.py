import pytest
import torch

from hf_colorize.filters import box_mean, guided_filter


@pytest.mark.parametrize("radius", [1, 3, 8, 40])
def test_box_mean_is_the_mean_over_the_window_inside_the_image(radius):
    image = torch.randn(2, 3, 21, 34, generator=torch.Generator().manual_seed(radius))
    mean = box_mean(image, radius)
    for row, column in [(0, 0), (10, 17), (20, 33), (3, 30)]:
        window = image[..., max(0, row - radius) : row + radius + 1, max(0, column - radius) : column + radius + 1]
        assert torch.allclose(mean[..., row, column], window.mean((-2, -1)), atol=1e-5)


def test_box_mean_keeps_the_dtype_and_is_exact_in_bf16_for_a_constant():
    image = torch.full((1, 1, 64, 64), 0.7, dtype=torch.bfloat16)
    mean = box_mean(image, 8)
    assert mean.dtype == torch.bfloat16 and torch.equal(mean, image)


def test_box_mean_passes_gradients():
    image = torch.randn(1, 2, 16, 16, requires_grad=True)
    box_mean(image, 2).sum().backward()
    # Each pixel counts once in every window that holds it, weighted by that window's 1 / size: corners least.
    assert image.grad[0, 0, 8, 8] > image.grad[0, 0, 0, 0] > 0


def test_guided_filter_smooths_flat_regions_and_keeps_edges():
    guide = torch.zeros(1, 1, 32, 32)
    guide[..., 16:] = 1.0
    source = guide * 0.5 + torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.1
    filtered = guided_filter(source, guide, radius=4, epsilon=1e-3)
    assert filtered[..., :16].std() < source[..., :16].std() / 3
    assert (filtered[..., 17] - filtered[..., 14]).abs().mean() > 0.4
