import io

import numpy as np
import pytest
import torch
from PIL import Image

from hf_colorize import images
from hf_colorize.color import rgb_to_lab
from hf_colorize.images import InvalidImageError, load_lightness, load_rgb, load_rgb_image, to_pil


def lightness_of(rgb_uint8: np.ndarray) -> torch.Tensor:
    return rgb_to_lab(torch.from_numpy(rgb_uint8 / 255.0).float().permute(2, 0, 1))[0]


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "CMYK"])
def test_pil_modes_reduce_to_lightness(color_image, mode):
    image = color_image.convert(mode)
    lightness = load_lightness(image)
    assert lightness.shape == (1, 48, 80)
    expected = lightness_of(np.asarray(image.convert("RGB")))
    assert (lightness[0] - expected).abs().max() < 1e-3


def test_sixteen_bit_grey_uses_full_range():
    values = (np.linspace(0, 65535, 64).reshape(8, 8)).astype(np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    lightness = load_lightness(image)
    assert lightness.min() < 1 and lightness.max() > 99


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (30, 10), "white")
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert load_rgb(path).shape == (3, 30, 10)


@pytest.mark.parametrize(
    "array",
    [np.zeros((5, 7), np.uint8), np.zeros((5, 7, 3), np.uint8), np.zeros((5, 7, 4), np.uint16), np.zeros((5, 7, 1))],
)
def test_numpy_inputs(array):
    assert load_rgb(array).shape == (3, 5, 7)


def test_missing_file(tmp_path):
    with pytest.raises(InvalidImageError, match="missing.png: file not found"):
        load_rgb(tmp_path / "missing.png")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(InvalidImageError, match="notes.png: not an image"):
        load_rgb(path)


def test_truncated_image(tmp_path, color_image):
    buffer = io.BytesIO()
    color_image.save(buffer, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InvalidImageError, match="cut.png: truncated or corrupt"):
        load_rgb(path)


def test_zero_pixel_inputs():
    with pytest.raises(InvalidImageError, match="no pixels"):
        load_rgb(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(InvalidImageError, match="no pixels"):
        load_rgb(Image.new("RGB", (0, 0)))


def test_too_large_image_refused_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (10_000, 10_000)).save(path)
    with pytest.raises(InvalidImageError, match="huge.png: image is too large"):
        load_rgb(path)
    assert images.MAX_PIXELS < 100_000_000


def test_bad_array_values():
    with pytest.raises(InvalidImageError, match="NaN"):
        load_rgb(np.full((4, 4), np.nan))
    with pytest.raises(InvalidImageError, match="dtype"):
        load_rgb(np.zeros((4, 4), np.int64))
    with pytest.raises(InvalidImageError, match="expected a path"):
        load_rgb(42)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "CMYK", "I;16", "F"])
def test_reading_band_by_band_gives_the_whole_image(color_image, monkeypatch, mode):
    sixteen_bit = Image.fromarray(np.asarray(color_image)[..., 0].astype(np.uint16) * 257)
    image = color_image.convert(mode) if mode != "I;16" else sixteen_bit
    whole_lightness, whole_rgb = load_lightness(image), load_rgb(image)
    monkeypatch.setattr(images, "BAND_PIXELS", 100)  # bands of one or two rows
    torch.testing.assert_close(load_lightness(image), whole_lightness, rtol=0, atol=1e-4)  # float rounding only
    assert torch.equal(load_rgb(image), whole_rgb)
    assert np.array_equal(np.asarray(load_rgb_image(image)), np.asarray(to_pil(whole_rgb)))


def test_sixteen_bit_scale_is_decided_by_the_whole_image(monkeypatch):
    values = np.full((8, 8), 200, np.uint16)
    values[-1, -1] = 65535  # only the last row shows that this is a 16-bit image
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    monkeypatch.setattr(images, "BAND_PIXELS", 8)  # a band a row
    lightness = load_lightness(image)
    assert lightness[0, 0, 0] < 5 and lightness[0, -1, -1] > 99  # 200 of 65535 is near black


def test_band_by_band_reading_keeps_the_exif_orientation(tmp_path, color_image, monkeypatch):
    exif = Image.Exif()  # not the shared fixture's own
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rotated.png"
    color_image.save(path, exif=exif)
    monkeypatch.setattr(images, "BAND_PIXELS", 50)
    expected = load_lightness(color_image.transpose(Image.Transpose.ROTATE_270))
    torch.testing.assert_close(load_lightness(path), expected, rtol=0, atol=1e-4)
