"""The compiled colour loops (:mod:`hf_colorize.color_kernels`) against the straightforward math they replace.

The references below are plain whole-tensor conversions: every pixel divided by 255 and converted to Lab whole, and
ab resized over the whole image, converted back with the sRGB curve and gamut-mapped by trying each chroma scale on
every outside pixel, in float64 (in float32, a colour whose chroma scale only just fits can be decided either way by
rounding: the scale then jumps by 0.1 and the colour by tens of levels). The loops must stay within one 8-bit level.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hf_colorize import images
from hf_colorize.color import denormalize_ab, lab_to_rgb, rgb_to_lab
from hf_colorize.color_kernels import lab_to_srgb8, srgb8_to_lightness
from hf_colorize.image_processing import join_lightness, resize_channels
from hf_colorize.images import load_lightness, load_rgb, to_pil
from hf_colorize.pipeline import load_colorization_pipeline

EXAMPLE = Path(__file__).parent.parent / "examples" / "images" / "fruits-grey.jpg"


def reference_in_gamut(lightness: torch.Tensor, ab: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """Lab to sRGB in [0, 1], an out-of-gamut pixel's ab scaled by the largest of 0.9, 0.8, ... 0 that fits (within
    1e-6), every scale tried on every such pixel."""
    lightness, ab = lightness.double(), ab.double()
    rgb = lab_to_rgb(torch.cat([lightness, ab]), clip=False)
    fits = ((rgb >= 0) & (rgb <= 1)).all(dim=0)
    for scale in torch.linspace(1.0, 0.0, steps + 1)[1:]:
        candidate = lab_to_rgb(torch.cat([lightness, ab * scale]), clip=False)
        candidate_fits = ((candidate >= -1e-6) & (candidate <= 1 + 1e-6)).all(dim=0)
        rgb = torch.where(~fits & candidate_fits, candidate, rgb)
        fits = fits | candidate_fits
    return rgb.clamp(0, 1).float()


def reference_join(ab: torch.Tensor, lightness: torch.Tensor) -> np.ndarray:
    """Predicted ab ``(2, h, w)`` resized over the whole image and joined with its L, as 8-bit RGB."""
    height, width = lightness.shape[-2:]
    full_ab = denormalize_ab(resize_channels(ab, height, width))
    return np.asarray(to_pil(reference_in_gamut(lightness, full_ab)), dtype=int)


def planes(pixels: np.ndarray) -> np.ndarray:
    """RGBX pixels ``(H, W, 4)`` as R, G, B planes ``(3, H, W)``."""
    return np.ascontiguousarray(pixels[..., :3].transpose(2, 0, 1))


@pytest.fixture(scope="module")
def pipe():
    return load_colorization_pipeline("dlsa-tiny")


@pytest.fixture(scope="module")
def photo(pipe) -> Image.Image:
    """A real-ish colour photo: the example picture colorized by the bundled model, then enlarged."""
    return pipe(str(EXAMPLE)).resize((900, 700), Image.Resampling.BICUBIC)


def test_8bit_lightness_matches_the_float_conversion():
    rgb8 = torch.randint(0, 256, (97, 131, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    rgb8[0, :3] = torch.tensor([[0, 0, 0], [255, 255, 255], [1, 2, 3]], dtype=torch.uint8)
    expected = rgb_to_lab(rgb8.permute(2, 0, 1).double() / 255)[0].float()
    torch.testing.assert_close(torch.from_numpy(srgb8_to_lightness(rgb8.numpy())), expected, rtol=0, atol=1e-4)
    greys = torch.arange(256, dtype=torch.uint8).view(16, 16, 1)
    expected_greys = rgb_to_lab(greys.permute(2, 0, 1).expand(3, 16, 16).double() / 255)[0].float()
    torch.testing.assert_close(torch.from_numpy(srgb8_to_lightness(greys.numpy())), expected_greys, rtol=0, atol=1e-4)
    strided = np.asarray(Image.fromarray(rgb8.numpy()).convert("RGBA"))[..., :3]  # alpha dropped, not copied
    torch.testing.assert_close(torch.from_numpy(srgb8_to_lightness(strided)), expected, rtol=0, atol=1e-4)
    rgbx = np.concatenate([rgb8.numpy(), np.full((97, 131, 1), 7, np.uint8)], axis=2)  # PIL's layout: a fourth byte
    assert np.array_equal(srgb8_to_lightness(rgbx), srgb8_to_lightness(strided))
    with pytest.raises(ValueError, match="uint8"):
        srgb8_to_lightness(rgb8.float().numpy())


def test_8bit_inputs_read_the_same_lightness_as_float_ones(photo):
    for image in (photo, photo.convert("L"), np.asarray(photo), np.asarray(photo.convert("RGBA"))):
        expected = rgb_to_lab(load_rgb(image))[:1]  # the float path: every pixel divided by 255, then Lab
        torch.testing.assert_close(load_lightness(image), expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("saturation", [1.0, 3.0, 8.0])  # 3 and 8 push many pixels out of the gamut
def test_lab_to_srgb8_within_one_level_of_the_float_conversion(pipe, photo, saturation):
    lightness = load_lightness(photo)
    lightness[:, :5] = 0.0  # black and white rows: the gamut's corners
    lightness[:, 5:10] = 100.0
    with torch.inference_mode():
        ab = pipe.model(pixel_values=pipe.image_processor(photo)["pixel_values"]).ab[0] * saturation
    full_ab = denormalize_ab(resize_channels(ab, *lightness.shape[-2:]))
    expected = reference_in_gamut(lightness, full_ab)
    outside = ((lab_to_rgb(torch.cat([lightness, full_ab]), clip=False) - 0.5).abs() > 0.5).any(dim=0)
    assert outside.float().mean() > (0.01 if saturation > 1 else 0)  # the gamut mapping is exercised
    converted = torch.from_numpy(planes(lab_to_srgb8(lightness[0].numpy(), full_ab.numpy())))
    difference = (converted.int() - expected.mul(255).round().int()).abs()
    assert difference.max() <= 1, f"{int((difference > 1).sum())} pixels differ by more than one level"


def test_pipeline_output_within_one_level_of_the_straightforward_pipeline(pipe, photo, monkeypatch):
    """The whole call on a colour photo against the float path: L by rgb_to_lab, the model, the whole-image join."""
    monkeypatch.setattr(images, "BAND_PIXELS", 50_000)  # the lightness read in several bands, the last one shorter
    output = np.asarray(pipe(photo), dtype=int)
    lightness = rgb_to_lab(load_rgb(photo))[:1]
    with torch.inference_mode():
        ab = pipe.model(pixel_values=pipe.image_processor.encode(lightness)[None]).ab[0]
    assert np.abs(output - reference_join(ab, lightness)).max() <= 1
    assert np.abs(np.asarray(join_lightness(ab, lightness), dtype=int) - output).max() <= 1


def test_images_in_several_memory_blocks_give_the_same_output(pipe, photo):
    """A picture that Pillow keeps in several blocks (made under a small block size) is read band by band and its
    output pasted band by band; one in a single block is read and written in place: the same pixels either way."""
    in_place = pipe(photo)
    before = Image.core.get_block_size()
    try:
        Image.core.set_block_size(1 << 20)  # 1 MB: 900x700 RGB takes 2.5 MB
        pieced = photo.copy()
        with pytest.raises(ValueError, match="multiple"):
            pieced.__arrow_c_array__()
        pieced_output = pipe(pieced)
    finally:
        Image.core.set_block_size(before)
    assert np.array_equal(np.asarray(in_place), np.asarray(pieced_output))


def test_lab_to_srgb8_within_one_level_on_random_colours_far_outside_the_gamut():
    """Every lightness with chroma up to 130: most colours leave the gamut, many fit only at a small chroma scale, and
    some lie on a limit at one scale, where float32 must leave the decision to float64."""
    generator = torch.Generator().manual_seed(0)
    lightness = torch.rand(1, 200, 300, generator=generator, dtype=torch.float64) * 100
    lightness[0, :3] = torch.tensor([0.0, 50.0, 100.0]).double()[:, None]
    ab = (torch.rand(2, 200, 300, generator=generator, dtype=torch.float64) * 2 - 1) * 130
    lightness, ab = lightness.float(), ab.float()
    output = planes(lab_to_srgb8(lightness[0].numpy(), ab.numpy())).astype(int)
    expected = (reference_in_gamut(lightness, ab) * 255).round().numpy().astype(int)
    assert np.abs(output - expected).max() <= 1


def test_lab_to_srgb8_names_shapes_that_do_not_fit():
    lightness, ab = np.zeros((4, 6), np.float32), np.zeros((2, 3, 6), np.float32)
    converted = lab_to_srgb8(lightness, ab)
    assert converted.shape == (4, 6, 4) and (converted[..., 3] == 255).all()  # R, G, B and PIL's pad byte
    with pytest.raises(ValueError, match=r"writes uint8 \(4, 6, 4\), got out uint8 \(4, 6, 3\)"):
        lab_to_srgb8(lightness, ab, out=np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(ValueError, match=r"expects ab \(2, h <= 4, 6\).*got ab \(2, 3, 5\)"):
        lab_to_srgb8(lightness, np.zeros((2, 3, 5), np.float32))
    with pytest.raises(ValueError, match="rows 2-6 of 5"):
        lab_to_srgb8(lightness, ab, first_row=2, height=5)


def test_pil_keeps_freed_image_memory_unless_the_user_chose(monkeypatch):
    """A pipeline lets PIL reuse a freed output's memory blocks (a 12-megapixel output is 3 of them), but leaves a
    ``PILLOW_BLOCKS_MAX`` the user set alone."""
    before = Image.core.get_blocks_max()
    try:
        Image.core.set_blocks_max(0)
        monkeypatch.delenv("PILLOW_BLOCKS_MAX", raising=False)
        images.keep_freed_image_blocks()
        assert Image.core.get_blocks_max() == images.PIL_BLOCKS_KEPT >= 3
        Image.core.set_blocks_max(0)
        monkeypatch.setenv("PILLOW_BLOCKS_MAX", "0")
        images.keep_freed_image_blocks()
        assert Image.core.get_blocks_max() == 0
    finally:
        Image.core.set_blocks_max(before)
