"""Zero-copy access to PIL images' memory (:mod:`hf_colorize.pil_memory`)."""

import gc

import numpy as np
import pytest
import torch
from PIL import Image

from hf_colorize.images import load_lightness
from hf_colorize.pil_memory import float_plane, keep_images_whole, pixel_view


def test_rgb_pixels_are_the_image_own_memory():
    image = Image.new("RGB", (5, 3), (10, 20, 30))
    pixels = pixel_view(image)
    assert pixels.shape == (3, 5, 4) and pixels.dtype == np.uint8
    assert np.array_equal(pixels[..., :3], np.asarray(image))
    assert (pixels[..., 3] == 255).all()
    pixels[1, 2, :3] = (200, 100, 50)  # written in place: the image sees it
    assert image.getpixel((2, 1)) == (200, 100, 50)


def test_grey_pixels_and_other_modes():
    grey = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4))
    assert grey.readonly and pixel_view(grey) is None  # over the array's memory: Pillow 12 crashes exporting it
    grey = grey.copy()
    assert np.array_equal(pixel_view(grey)[..., 0], np.asarray(grey))
    assert pixel_view(Image.new("I", (4, 3))) is None
    assert pixel_view(Image.new("I;16", (4, 3))) is None


def test_pixels_outlive_the_image():
    image = Image.new("RGB", (64, 64), (1, 2, 3))
    pixels = pixel_view(image)
    del image
    gc.collect()
    Image.new("RGB", (64, 64), (9, 9, 9))  # may reuse freed memory: the view's must not be
    assert (pixels[..., :3] == (1, 2, 3)).all()


def test_images_in_several_blocks_are_not_viewed():
    before = Image.core.get_block_size()
    try:
        Image.core.set_block_size(1 << 16)
        assert pixel_view(Image.new("RGB", (300, 300))) is None
    finally:
        Image.core.set_block_size(before)


def test_keep_images_whole_unless_the_user_chose(monkeypatch):
    before = Image.core.get_block_size()
    try:
        Image.core.set_block_size(1 << 24)
        monkeypatch.delenv("PILLOW_BLOCK_SIZE", raising=False)
        keep_images_whole()
        assert Image.core.get_block_size() >= 4 * 4000 * 3000  # a 12-megapixel RGB picture in one block
        assert pixel_view(Image.new("RGB", (4000, 3000))) is not None
        Image.core.set_block_size(1 << 24)
        monkeypatch.setenv("PILLOW_BLOCK_SIZE", "16M")
        keep_images_whole()
        assert Image.core.get_block_size() == 1 << 24
    finally:
        Image.core.set_block_size(before)


@pytest.mark.parametrize("mode", ["RGBA", "RGBX"])
def test_four_byte_modes(mode):
    image = Image.new(mode, (3, 2), (1, 2, 3, 4))
    assert pixel_view(image)[0, 0, :3].tolist() == [1, 2, 3]


def test_float_planes_live_in_pil_memory_and_outlive_nothing_they_need():
    plane = float_plane(3, 5)
    assert plane.shape == (3, 5) and plane.dtype == np.float32 and plane.flags.writeable
    plane[:] = 7.5
    gc.collect()
    Image.new("F", (5, 3), 0.0)  # may reuse freed memory: the plane's must not be
    assert (plane == 7.5).all()
    image = Image.new("F", (5, 3), 2.0)
    assert (pixel_view(image)[..., 0] == 2.0).all()


def test_lightness_in_pil_memory_equals_lightness_in_torch_memory():
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)).copy()
    in_pil = load_lightness(picture)
    before = Image.core.get_block_size()
    try:
        Image.core.set_block_size(1 << 12)  # 40x60 floats take 9.6 kB: several blocks, so torch's memory
        assert float_plane(40, 60) is None
        in_torch = load_lightness(picture)
    finally:
        Image.core.set_block_size(before)
    assert torch.equal(in_pil, in_torch)
