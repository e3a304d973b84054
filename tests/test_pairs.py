import pytest
import torch
from PIL import Image

from hf_colorize.color import rgb_to_lab
from hf_colorize.training.pairs import (
    ReferenceSampler,
    centre_crop,
    jitter_colours,
    load_or_build_pair_index,
    nearest_neighbours,
)


def test_nearest_neighbours_never_pick_the_image_itself():
    descriptors = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 1.0]])
    assert nearest_neighbours(descriptors) == [1, 0, 3, 2]


def test_pair_index_is_cached_for_its_key(tmp_path):
    path, calls = tmp_path / "pairs.json", []

    def build():
        calls.append(1)
        return [1, 0]

    assert load_or_build_pair_index(path, {"dataset": "a"}, build) == [1, 0]
    assert load_or_build_pair_index(path, {"dataset": "a"}, build) == [1, 0] and len(calls) == 1
    load_or_build_pair_index(path, {"dataset": "b"}, build)  # other data: built again
    assert len(calls) == 2 and not list(tmp_path.glob(".tmp-*"))


def colour_dataset(count: int) -> list[dict]:
    return [{"image": Image.new("RGB", (8, 8), (40 * index, 0, 0))} for index in range(count)]


@pytest.mark.parametrize(
    "proportions, kinds", [((1, 0, 0), {"self"}), ((0, 1, 0), {"nearest"}), ((0, 0, 1), {"random"})]
)
def test_reference_kinds_follow_the_proportions(proportions, kinds):
    dataset = colour_dataset(4)
    sampler = ReferenceSampler(dataset, nearest=[1, 0, 3, 2], proportions=proportions)
    torch.manual_seed(0)
    draws = [sampler.draw(2) for _ in range(30)]
    assert {kind for kind, _ in draws} == kinds
    images = {image.getpixel((0, 0))[0] for _, image in draws}
    expected = {"self": {80}, "nearest": {120}, "random": {0, 40, 120}}[kinds.pop()]
    assert images == expected  # a random reference is never the target itself


def test_reference_sampler_checks_its_inputs():
    with pytest.raises(ValueError, match="three non-negative weights"):
        ReferenceSampler(colour_dataset(2), [1, 0], proportions=(1, -1, 0))
    with pytest.raises(ValueError, match="2 entries for 3 images"):
        ReferenceSampler(colour_dataset(3), [1, 0])


def test_jitter_keeps_lightness_and_scales_chroma():
    rgb = centre_crop(Image.new("RGB", (12, 8), (200, 120, 40)), 8)
    assert rgb.shape == (3, 8, 8)
    before = rgb_to_lab(rgb)
    torch.manual_seed(0)
    factors = []
    for _ in range(8):
        after = rgb_to_lab(jitter_colours(rgb))
        assert torch.allclose(before[0], after[0], atol=0.5)
        factors.append(float(after[1:].norm(dim=0).mean() / before[1:].norm(dim=0).mean()))
    assert 0.69 < min(factors) and max(factors) < 1.31 and max(factors) - min(factors) > 0.2
