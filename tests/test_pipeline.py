import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import pipeline

import hf_colorize
from hf_colorize.color import rgb_to_lab
from hf_colorize.hints import InvalidHintError
from hf_colorize.images import InvalidImageError

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


def test_hints_change_the_colours(pipe, color_image):
    plain = np.asarray(pipe(color_image), dtype=np.float32)
    hinted = np.asarray(pipe(color_image, hints=[(40, 24, "#00ff00")]), dtype=np.float32)
    assert np.abs(plain - hinted).max() > 0


def test_scribble_hints(pipe, color_image):
    scribble = Image.new("RGBA", color_image.size, (0, 0, 0, 0))
    scribble.paste((255, 0, 0, 255), (0, 0, 20, 20))
    assert pipe(color_image, hints=scribble).size == color_image.size


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
    config = json.loads((folder / "preprocessor_config.json").read_text())
    config["size"] = {"height": -64, "width": 64}
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    return folder / "preprocessor_config.json", "size must be positive whole numbers"


@pytest.mark.parametrize("kind", ["truncated weights", "pickled weights", "negative size"])
def test_a_damaged_model_folder_is_one_error_naming_the_file(tiny_model_dir, tmp_path, kind):
    folder = tmp_path / "model"
    file, problem = damaged_model(kind, tiny_model_dir, folder)
    with pytest.raises(ValueError) as raised:
        hf_colorize.load_colorization_pipeline(str(folder))
    message = str(raised.value)
    assert str(file) in message and problem in message and len(message.splitlines()) == 1, message
    assert not (folder / "unpickled").exists()  # nothing was unpickled
