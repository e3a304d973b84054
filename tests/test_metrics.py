import math
import statistics

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from hf_colorize.evaluation.metrics import (
    ab_histogram,
    boundary_psnr,
    colorfulness,
    histogram_intersection,
    patch_error_variance,
    psnr,
    ssim,
)
from hf_colorize.evaluation.transfer import reinhard_transfer

PAIR_METRICS = [psnr, ssim, boundary_psnr, patch_error_variance]
SIZE = 32


def random_image(seed: int, size: int = SIZE) -> torch.Tensor:
    return torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def smooth_image(size: int = 64, phase: float = 0.0) -> torch.Tensor:
    """Slowly varying sinusoids, shifted per channel: no edges anywhere."""
    rows, cols = torch.meshgrid(
        torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij"
    )
    channels = [
        128 + 100 * torch.sin(rows / 9 + phase + shift) * torch.cos(cols / 13 + shift) for shift in (0.0, 1.0, 2.0)
    ]
    return torch.stack(channels).round().clamp(0, 255).to(torch.uint8)


def add_offset(image: torch.Tensor, offset: int, rows: slice = slice(None), cols: slice = slice(None)) -> torch.Tensor:
    """``image`` (kept within 0-245) plus ``offset`` on every channel of the given region."""
    shifted = image.clone()
    shifted[:, rows, cols] += offset
    return shifted


def skimage_ssim(prediction: torch.Tensor, target: torch.Tensor) -> float:
    return structural_similarity(
        prediction.permute(1, 2, 0).numpy(),
        target.permute(1, 2, 0).numpy(),
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )


def test_psnr_of_known_mse():
    target = torch.full((3, SIZE, SIZE), 100, dtype=torch.uint8)
    assert psnr(target, target) == math.inf
    assert psnr(add_offset(target, 5), target) == pytest.approx(10 * math.log10(255**2 / 25))


@pytest.mark.parametrize(
    "prediction, target",
    [
        (random_image(0, 64), random_image(1, 64)),
        (add_offset(random_image(2, 64) // 2, 7, rows=slice(10, 40)), random_image(2, 64) // 2),
        (smooth_image(phase=0.3), smooth_image()),
        (random_image(3, 64) // 8 + smooth_image() // 2, smooth_image()),
    ],
    ids=["independent-noise", "noise-with-offset", "smooth", "smooth-plus-noise"],
)
def test_ssim_matches_skimage(prediction, target):
    assert ssim(prediction, target) == pytest.approx(skimage_ssim(prediction, target), abs=1e-6)


def test_ssim_of_identical_images_is_one():
    image = random_image(4)
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-12)


def test_ssim_rejects_images_smaller_than_the_window():
    image = random_image(5, size=10)
    with pytest.raises(ValueError, match="smaller than the 11x11 window"):
        ssim(image, image)


def test_colorfulness_of_grey_is_zero():
    grey = torch.randint(0, 256, (1, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(6))
    assert colorfulness(grey.expand(3, -1, -1)) == 0.0


def test_colorfulness_exact_values():
    red = torch.zeros(3, 4, 4, dtype=torch.uint8)
    red[0] = 255
    # rg = 255, yb = 127.5 everywhere: no spread, only the mean term.
    assert colorfulness(red) == pytest.approx(0.3 * math.hypot(255, 127.5))
    half_red = red.clone()
    half_red[0, :, 2:] = 0
    # rg and yb are each 0 on half the pixels: standard deviations equal the means (127.5 and 63.75).
    assert colorfulness(half_red) == pytest.approx(1.3 * math.hypot(127.5, 63.75))


def test_colorfulness_drops_when_desaturated():
    saturated = random_image(7)
    grey = saturated.double().mean(dim=0, keepdim=True)
    desaturated = (0.3 * saturated.double() + 0.7 * grey).round().to(torch.uint8)
    assert colorfulness(saturated) > colorfulness(desaturated) > 0


def test_boundary_psnr_of_uniform_error_equals_psnr():
    target = random_image(8) // 2
    prediction = add_offset(target, 9)
    assert boundary_psnr(prediction, target) == pytest.approx(psnr(prediction, target))
    assert boundary_psnr(prediction, target) == pytest.approx(10 * math.log10(255**2 / 81))


def test_boundary_psnr_ignores_patch_interiors_and_outer_edges():
    target = random_image(9) // 2
    # Errors on the image's outer frame and inside the four 16x16 patches, away from rows/columns 15 and 16.
    prediction = add_offset(target, 20, rows=slice(0, 14), cols=slice(0, 14))
    prediction = add_offset(prediction, 20, rows=slice(18, 32), cols=slice(18, 32))
    assert psnr(prediction, target) < 30
    assert boundary_psnr(prediction, target) == math.inf


def test_boundary_psnr_of_error_on_one_border_row():
    target = random_image(10) // 2
    prediction = add_offset(target, 10, rows=slice(15, 16))
    # The border band of a 32x32 image with 16x16 patches: rows 15, 16 and columns 15, 16, i.e. 4 * 32 - 4 pixels.
    assert boundary_psnr(prediction, target) == pytest.approx(10 * math.log10(255**2 / (32 * 100 / 124)))


def test_patch_error_variance_is_zero_for_uniform_error():
    target = random_image(11) // 2
    assert patch_error_variance(target, target) == 0.0
    assert patch_error_variance(add_offset(target, 12), target) == pytest.approx(0.0, abs=1e-12)


def test_patch_error_variance_of_error_in_one_patch():
    target = random_image(12) // 2
    prediction = add_offset(target, 10, rows=slice(0, 16), cols=slice(16, 32))
    # Patch RMSEs are (0, 10, 0, 0): unbiased variance 100 / 4.
    assert patch_error_variance(prediction, target) == pytest.approx(25.0)


def test_patch_error_variance_of_uneven_errors():
    target = torch.full((3, 32, 64), 50, dtype=torch.uint8)
    offsets = [1, 2, 3, 5, 8, 13, 21, 34]  # one per 16x16 patch, in row-major order
    prediction = target.clone()
    for index, offset in enumerate(offsets):
        row, col = divmod(index, 4)
        prediction[:, 16 * row : 16 * (row + 1), 16 * col : 16 * (col + 1)] += offset
    assert patch_error_variance(prediction, target) == pytest.approx(statistics.variance(offsets))
    # With 32x32 patches the left one holds offsets 1, 2, 8, 13 and the right one 3, 5, 21, 34, each on a quarter.
    groups = ([1, 2, 8, 13], [3, 5, 21, 34])
    patch_rmse = [math.sqrt(statistics.mean(offset**2 for offset in group)) for group in groups]
    assert patch_error_variance(prediction, target, patch_size=32) == pytest.approx(statistics.variance(patch_rmse))


@pytest.mark.parametrize("metric", [boundary_psnr, patch_error_variance])
def test_patch_metrics_reject_bad_grids(metric):
    with pytest.raises(ValueError, match="not a multiple of the patch size 16"):
        metric(random_image(13, size=24), random_image(14, size=24))
    with pytest.raises(ValueError, match="fewer than two 16x16 patches"):
        metric(random_image(15, size=16), random_image(16, size=16))


@pytest.mark.parametrize("metric", PAIR_METRICS)
def test_pair_metrics_reject_bad_inputs(metric):
    image = random_image(17)
    with pytest.raises(ValueError, match="shapes differ"):
        metric(image, image[:, :16])
    with pytest.raises(ValueError, match="must be uint8"):
        metric(image.float(), image.float())
    with pytest.raises(ValueError, match=r"must have shape \(3, H, W\)"):
        metric(image[:2], image[:2])
    with pytest.raises(ValueError, match=r"must have shape \(3, H, W\)"):
        metric(image[None], image[None])


def test_colorfulness_rejects_bad_inputs():
    image = random_image(18)
    with pytest.raises(ValueError, match="must be uint8"):
        colorfulness(image.float())
    with pytest.raises(ValueError, match=r"must have shape \(3, H, W\)"):
        colorfulness(image[0])
    with pytest.raises(ValueError, match=r"must have shape \(3, H, W\)"):
        colorfulness(torch.cat([image, image[:1]]))


def solid(rgb: tuple[int, int, int], height: int = 4, width: int = 6) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.uint8).view(3, 1, 1).expand(3, height, width).contiguous()


def test_histogram_intersection():
    red, blue = solid((220, 30, 30)), solid((30, 40, 220), height=8)
    assert histogram_intersection(red, red) == pytest.approx(1.0)
    assert histogram_intersection(red, blue) == pytest.approx(0.0)
    half = torch.cat([red, solid((30, 40, 220))], dim=1)  # half red, half blue, another size
    assert histogram_intersection(half, red) == pytest.approx(0.5)
    assert histogram_intersection(half, blue) == pytest.approx(0.5)
    histogram = ab_histogram(half)
    assert histogram.shape == (441,) and histogram.sum() == pytest.approx(1.0)


def test_reinhard_transfer_matches_the_reference_statistics():
    generator = torch.Generator().manual_seed(0)
    target = torch.randn(3, 8, 8, generator=generator) * torch.tensor([10.0, 5.0, 3.0]).view(3, 1, 1) + 40
    reference = torch.randn(3, 6, 10, generator=generator) * torch.tensor([20.0, 30.0, 15.0]).view(3, 1, 1) - 5
    moved = reinhard_transfer(target, reference)
    assert torch.allclose(moved.mean(dim=(1, 2)), reference.mean(dim=(1, 2)), atol=1e-4)
    assert torch.allclose(moved.std(dim=(1, 2), correction=0), reference.std(dim=(1, 2), correction=0), atol=1e-4)
    grey = target.clone()
    grey[1:] = 0  # a grey target: its ab take the reference's mean colour
    assert torch.allclose(
        reinhard_transfer(grey, reference)[1:], reference[1:].mean(dim=(1, 2)).view(2, 1, 1).expand(2, 8, 8)
    )


def test_frechet_distance_is_exact_on_gaussians():
    from hf_colorize.evaluation.frechet import frechet_distance

    rng = np.random.default_rng(0)
    features = rng.normal(size=(4000, 3))
    assert frechet_distance(features, features) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(features, features + [2.0, 0.0, 0.0]) == pytest.approx(4.0, abs=1e-6)
    # N(0, I) against N(0, 4 I) in 3 dimensions: Tr(I + 4I - 2 * 2I) = 3
    assert frechet_distance(features, 2 * features) == pytest.approx(3.0 * features.var(axis=0).mean(), rel=0.05)
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(features, features[:, :2])


def test_colour_statistics_features_see_colour_not_lightness():
    from hf_colorize.evaluation.frechet import colour_statistics_features

    grey = torch.full((2, 3, 8, 8), 120, dtype=torch.uint8)
    grey[1] = 30  # another grey
    red = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    red[:, 0] = 200
    features = colour_statistics_features(torch.cat([grey, red]))
    assert features.shape == (3, 24)
    torch.testing.assert_close(features[0], features[1], atol=1e-3, rtol=0)
    assert (features[2] - features[0]).abs().max() > 0.5
    torch.testing.assert_close(features[:, :16].sum(dim=1), torch.ones(3))
