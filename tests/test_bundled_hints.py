"""What the bundled hint model does with one hint, on pictures where the right answer is known."""

import numpy as np
import pytest
import torch
from transformers import pipeline

import hf_colorize
from hf_colorize.color import rgb_to_lab


@pytest.fixture(scope="module")
def pipe():
    return pipeline("image-colorization", model=hf_colorize.DEFAULT_MODEL)


def lab_of(image) -> np.ndarray:
    rgb = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
    return rgb_to_lab(rgb).numpy()


def two_flat_regions(size: int = 224) -> np.ndarray:
    """A dark left half (L* ~30) and a light right half (L* ~75), both grey."""
    grey = np.full((size, size), 184, dtype=np.uint8)
    grey[:, : size // 2] = 72
    return grey


def test_a_hint_in_one_region_leaves_the_other_region_alone(pipe):
    image = two_flat_regions()
    without = lab_of(pipe(image))
    with_hint = lab_of(pipe(image, hints=[(50, 112, "#3aa03a")]))  # green in the dark half
    change = np.abs(with_hint[1:] - without[1:]).sum(0)  # |delta a| + |delta b| per pixel, CIE units
    assert change[:, 20:90].mean() > 10  # the hinted region turns towards green
    # the other region keeps its colour: on average below a just-noticeable difference (about 2.3 CIE units)
    assert change[:, 140:].mean() < 2.5 and change[:, 140:].max() < 10
