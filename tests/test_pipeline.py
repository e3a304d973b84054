import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import pipeline

import hf_colorize
from hf_colorize import images
from hf_colorize.color import denormalize_ab, lab_to_rgb_in_gamut, rgb_to_lab
from hf_colorize.hints import InvalidHintError
from hf_colorize.image_processing import join_lightness, resize_channels
from hf_colorize.images import InvalidImageError, to_pil

EXAMPLES = Path(__file__).parent.parent / "examples" / "images"


def lightness(image: Image.Image) -> torch.Tensor:
    return rgb_to_lab(torch.from_numpy(np.asarray(image.convert("RGB")) / 255.0).permute(2, 0, 1))[0]


@pytest.fixture(scope="module")
def pipe(tiny_model_dir):
    return pipeline("image-colorization", model=tiny_model_dir)


def test_output_has_input_size_and_lightness(pipe, color_image):
    output = pipe(color_image, hints=[(5, 5, "#ff8800"), (70, 40, (30, 90, 200))])
    assert isinstance(output, Image.Image) and output.mode == "RGB"
    assert output.size == color_image.size
    difference = (lightness(output) - lightness(color_image)).abs()
    assert difference.max() < 1.0 and difference.mean() < 0.2


@pytest.fixture(scope="module")
def trained_pipe():
    """The bundled dlsa-tiny: a model that has learnt to follow hints (a random one follows nothing)."""
    return pipeline("image-colorization", model=hf_colorize.BUNDLED_MODELS["dlsa-tiny"])


def ab_distance(image: Image.Image, colour: tuple[float, float, float], rows: slice, columns: slice) -> float:
    """CIE ab distance of the region's mean colour in ``image`` from the RGB ``colour`` (in [0, 1])."""
    lab = rgb_to_lab(torch.from_numpy(np.asarray(image) / 255.0).permute(2, 0, 1))
    target = rgb_to_lab(torch.tensor(colour).view(3, 1, 1))[1:, 0, 0]
    return (lab[1:, rows, columns].mean(dim=(1, 2)) - target).norm().item()


def test_hints_give_their_colour_where_they_are(trained_pipe, color_image):
    green, near = (0.0, 1.0, 0.0), (slice(10, 14), slice(58, 62))  # around the hint at x = 60, y = 12
    plain = ab_distance(trained_pipe(color_image), green, *near)
    hinted = ab_distance(trained_pipe(color_image, hints=[(60, 12, "#00ff00")]), green, *near)
    assert plain - hinted > 30, (plain, hinted)  # CIE ab units: the hint pulls its colour there


def test_scribble_hints_give_their_colour_where_they_are(trained_pipe, color_image):
    scribble = Image.new("RGBA", color_image.size, (0, 0, 0, 0))
    scribble.paste((255, 0, 0, 255), (50, 10, 70, 30))
    red, under = (1.0, 0.0, 0.0), (slice(10, 30), slice(50, 70))
    scribbled = trained_pipe(color_image, hints=scribble)
    assert scribbled.size == color_image.size
    plain = ab_distance(trained_pipe(color_image), red, *under)
    assert plain - ab_distance(scribbled, red, *under) > 30, plain


def test_batches_and_per_image_hints(pipe, color_image, tmp_path):
    path = tmp_path / "grey.png"
    color_image.convert("L").resize((50, 30)).save(path)
    inputs = [color_image, str(path), {"image": np.asarray(color_image), "hints": [(1, 1, "#0000ff")]}]
    outputs = pipe(inputs, batch_size=2)
    assert [output.size for output in outputs] == [(80, 48), (50, 30), (80, 48)]
    single = pipe(color_image)
    assert np.array_equal(np.asarray(outputs[0]), np.asarray(single))


def test_requests_the_family_cannot_honour(pipe, color_image):
    with pytest.raises(ValueError, match="'dlsa' model does not take a reference image"):
        pipe(color_image, reference=color_image)
    with pytest.raises(ValueError, match="'dlsa' model does not take several samples"):
        pipe(color_image, num_samples=4, seed=0)


def test_unknown_argument_is_named(pipe, color_image):
    with pytest.raises(TypeError, match="unknown argument.*hint"):
        pipe(color_image, hint=[(1, 1, "#ffffff")])


def test_bad_inputs_raise_clear_errors(pipe, color_image, tmp_path):
    with pytest.raises(InvalidImageError, match="file not found"):
        pipe(str(tmp_path / "nope.jpg"))
    with pytest.raises(InvalidHintError, match="outside the 80x48 image"):
        pipe(color_image, hints=[(80, 0, "#ffffff")])
    with pytest.raises(InvalidHintError, match="malformed colour"):
        pipe(color_image, hints=[(1, 1, "#12")])


def test_default_model_loads_offline(color_image):
    pipe = pipeline("image-colorization")
    assert pipe.model.config.model_type == "dlsa"
    assert pipe.model.name_or_path == hf_colorize.DEFAULT_MODEL
    assert pipe.model.dtype == torch.float32
    assert pipe(color_image, hints=[(5, 5, "#ff0000")]).size == color_image.size


def test_bundled_automatic_model_colorizes_offline(color_image):
    pipe = pipeline("image-colorization", model=hf_colorize.BUNDLED_MODELS["smsanet-small"])
    assert pipe.model.config.model_type == "smsanet" and pipe.model.dtype == torch.float32
    output = pipe(color_image)
    assert output.size == color_image.size
    assert (lightness(output) - lightness(color_image)).abs().mean() < 0.5
    assert rgb_to_lab(torch.from_numpy(np.asarray(output) / 255.0).permute(2, 0, 1))[1:].abs().mean() > 1  # not grey
    with pytest.raises(ValueError, match="use a 'dlsa' model"):
        pipe(color_image, hints=[(1, 1, "#ff0000")])


def test_bundled_exemplar_model_takes_the_reference_palette(color_image):
    pipe = pipeline("image-colorization", model=hf_colorize.BUNDLED_MODELS["axial-exemplar-small"])
    assert pipe.model.config.model_type == "axial_exemplar" and pipe.model.dtype == torch.float32
    target = Image.open(EXAMPLES / "fruits-grey.jpg")
    mean_ab = {}
    for name, colour in (("red", (200, 40, 40)), ("blue", (40, 70, 200))):
        output = pipe(target, reference=Image.new("RGB", (96, 64), colour))
        assert output.size == target.size
        mean_ab[name] = rgb_to_lab(torch.from_numpy(np.asarray(output) / 255.0).permute(2, 0, 1))[1:].mean(dim=(1, 2))
    assert mean_ab["red"][0] > mean_ab["blue"][0] + 5  # redder (a*) from the red reference
    assert mean_ab["blue"][1] < mean_ab["red"][1] - 5  # bluer (lower b*) from the blue reference


class RunsCodeWhenUnpickled:
    """A pickle payload that creates ``marker`` when unpickled, as a crafted weights file could run any code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def damaged_model(kind: str, tiny_model_dir: str, folder: Path) -> tuple[Path, str]:
    """A copy of the tiny model damaged in one way, with the file and the words its error must name."""
    shutil.copytree(tiny_model_dir, folder)
    weights = folder / "model.safetensors"
    if kind == "truncated weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        return weights, "truncated or corrupt weights"
    if kind == "pickled weights":
        weights.unlink()
        with open(folder / "pytorch_model.bin", "wb") as file:
            pickle.dump(RunsCodeWhenUnpickled(folder / "unpickled"), file)
        return folder / "pytorch_model.bin", "pickled weights are not loaded"
    if kind == "mistyped config":  # the typed config refuses it (huggingface_hub's strict dataclass error)
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "image_size": "big"}))
        return folder, "Validation error for field 'image_size'"
    config = json.loads((folder / "preprocessor_config.json").read_text())
    config["size"] = {"height": -64, "width": 64}
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    return folder / "preprocessor_config.json", "size must be positive whole numbers"


@pytest.mark.parametrize("kind", ["truncated weights", "pickled weights", "negative size", "mistyped config"])
def test_a_damaged_model_folder_is_one_error_naming_the_file(tiny_model_dir, tmp_path, kind):
    folder = tmp_path / "model"
    file, problem = damaged_model(kind, tiny_model_dir, folder)
    with pytest.raises(ValueError) as raised:
        hf_colorize.load_colorization_pipeline(str(folder))
    message = str(raised.value)
    assert str(file) in message and problem in message and len(message.splitlines()) == 1, message
    assert not (folder / "unpickled").exists()  # nothing was unpickled


def test_output_does_not_depend_on_the_band_size(pipe, monkeypatch):
    image = Image.open(EXAMPLES / "fruits-grey.jpg").resize((150, 97))
    whole = np.asarray(pipe(image, hints=[(30, 40, "#ff8800")]), dtype=int)
    monkeypatch.setattr(images, "BAND_PIXELS", 200)  # bands of one row
    banded = np.asarray(pipe(image, hints=[(30, 40, "#ff8800")]), dtype=int)
    assert np.abs(banded - whole).max() <= 1


@pytest.mark.parametrize("size", [(150, 97), (40, 30), (301, 203)])
def test_join_matches_the_whole_image_conversion(size):
    """Within 1/255 of resizing ab over the whole image and converting it at once in float64 (the join enlarges the
    rows as it converts, and shrinks them first when the image has fewer rows than the prediction)."""
    width, height = size
    torch.manual_seed(0)
    ab = resize_channels(torch.randn(2, 8, 8) * 0.4, 64, 64)
    full_lightness = resize_channels(torch.rand(1, 16, 16) * 100, height, width)
    full_ab = denormalize_ab(resize_channels(ab, min(64, height), width)).double()
    whole = lab_to_rgb_in_gamut(full_lightness.double(), resize_channels(full_ab, height, width))
    joined = np.asarray(join_lightness(ab, full_lightness), dtype=int)
    assert np.abs(joined - np.asarray(to_pil(whole.float()), dtype=int)).max() <= 1


PEAK_MEMORY = """
import resource, sys
from hf_colorize.cli import main

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

small, large, model, out = sys.argv[1:]
assert main([small, "-o", out + "/small.png", "--model", model]) == 0
before = peak()
assert main([large, "-o", out + "/large.png", "--model", model]) == 0
print(peak() - before)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kilobytes on Linux")
def test_a_large_image_costs_a_few_bytes_a_pixel(tmp_path, tiny_model_dir):
    """Colorizing a 4-megapixel image costs its lightness, its output and bands, not float copies of it: under
    40 bytes a pixel above the peak of a small call (whole-image float conversions took about 130)."""
    photo = Image.open(EXAMPLES / "fruits-grey.jpg").convert("L")
    photo.resize((32, 32)).save(tmp_path / "small.png")
    photo.resize((2000, 2000)).save(tmp_path / "large.png", compress_level=1)
    arguments = [tmp_path / "small.png", tmp_path / "large.png", tiny_model_dir, tmp_path / "out"]
    command = [sys.executable, "-c", PEAK_MEMORY, *map(str, arguments)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert int(finished.stdout.split()[-1]) < 40 * 4_000_000


@pytest.mark.parametrize("name", ["dlsa-tyni", "no-such-model"])
def test_an_unknown_model_name_fails_at_once_without_the_hub(name, monkeypatch):
    def no_hub(*args, **kwargs):
        raise AssertionError("the Hub was asked")

    monkeypatch.setattr("transformers.pipeline", no_hub)
    with pytest.raises(ValueError, match="unknown model, neither a folder nor a bundled model") as raised:
        hf_colorize.load_colorization_pipeline(name)
    message = str(raised.value)
    assert all(bundled in message for bundled in hf_colorize.BUNDLED_MODELS)
    assert ("did you mean dlsa-tiny?" in message) == (name == "dlsa-tyni")


def test_a_published_variant_without_weights_says_how_to_train_it():
    with pytest.raises(ValueError, match="dlsa-small: a published variant without trained weights") as raised:
        hf_colorize.load_colorization_pipeline("dlsa-small")
    config = Path(hf_colorize.__file__).parent / "hub_configs" / "dlsa-small"
    assert f"python -m hf_colorize.training --config {config} " in str(raised.value)
    assert (config / "config.json").is_file()  # shipped in the package, not read from a clone


def test_a_hub_id_is_still_looked_up(monkeypatch):
    from hf_colorize.pipeline import resolve_model

    assert resolve_model("some-org/some-model") == "some-org/some-model"


def test_post_processing_takes_the_model_output_as_it_comes_with_gradients():
    # The Auto-classes recipe of docs/usage.md without torch.no_grad(): the fast in-place conversion once refused it.
    from transformers import AutoImageProcessor, AutoModelForImageToImage

    model = AutoModelForImageToImage.from_pretrained(hf_colorize.DEFAULT_MODEL)
    processor = AutoImageProcessor.from_pretrained(hf_colorize.DEFAULT_MODEL)
    inputs = processor(Image.new("L", (40, 30), 128))
    ab = model(pixel_values=inputs["pixel_values"]).ab
    assert ab.requires_grad
    (image,) = processor.post_process_colorization(ab, inputs["lightness"])
    assert image.size == (40, 30) and image.mode == "RGB"
