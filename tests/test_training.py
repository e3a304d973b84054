import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image
from transformers import AutoModelForImageToImage, pipeline

from hf_colorize import DlsaForColorization
from hf_colorize.training import TrainingArgumentError, build_parser, main, train
from hf_colorize.training.export import export_half_precision, load_checkpoint_into
from hf_colorize.training.trainer import checkpoint_steps


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for index in range(6):
        pixels = rng.integers(0, 255, (72, 90, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"image{index}.png")
    return folder


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("config")
    tiny_config().save_pretrained(folder)
    return folder


def arguments(image_folder, config_dir, output_dir, *extra):
    return build_parser().parse_args(
        [
            "--config", str(config_dir),
            "--train_data_dir", str(image_folder),
            "--output_dir", str(output_dir),
            "--resolution", "64",
            "--train_batch_size", "2",
            "--checkpointing_steps", "2",
            "--max_hints", "5",
            *extra,
        ]
    )  # fmt: skip


def test_train_checkpoint_resume_and_load(image_folder, config_dir, tmp_path, color_image):
    output_dir = tmp_path / "run"
    train(arguments(image_folder, config_dir, output_dir, "--max_train_steps", "2", "--use_ema"))
    assert checkpoint_steps(output_dir) == [2]
    resume = ["--max_train_steps", "4", "--resume_from_checkpoint", "latest"]
    with pytest.raises(TrainingArgumentError, match="saved with --use_ema"):
        train(arguments(image_folder, config_dir, output_dir, *resume))
    train(arguments(image_folder, config_dir, output_dir, *resume, "--use_ema"))
    assert checkpoint_steps(output_dir) == [2, 4]
    assert not list(output_dir.glob(".tmp-*"))
    pipe = pipeline("image-colorization", model=str(output_dir))
    assert pipe(color_image, hints=[(3, 3, "#ff0000")]).size == color_image.size

    # The last checkpoint's EMA weights are the saved model; exported in fp16 they load back as fp32.
    model = load_checkpoint_into(DlsaForColorization(tiny_config()), output_dir / "checkpoint-4")
    for name, value in model.state_dict().items():
        assert torch.equal(value, pipe.model.state_dict()[name]), name
    export_half_precision(model, pipe.image_processor, tmp_path / "half")
    half = AutoModelForImageToImage.from_pretrained(tmp_path / "half")
    assert half.dtype == torch.float32
    assert (tmp_path / "half" / "model.safetensors").stat().st_size < (output_dir / "model.safetensors").stat().st_size
    pixel_values = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        assert torch.allclose(half.eval()(pixel_values).ab, model.eval()(pixel_values).ab, atol=1e-2)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--train_data_dir", "/no/such/folder"], "folder not found"),
        (["--resolution", "70"], "not a multiple of the dlsa model's stride 32"),
        (["--max_train_steps", "0"], "--max_train_steps must be at least 1"),
    ],
)
def test_bad_arguments_stop_before_work(image_folder, config_dir, tmp_path, extra, message):
    with pytest.raises(TrainingArgumentError, match=message):
        train(arguments(image_folder, config_dir, tmp_path / "run", *extra))
    assert not (tmp_path / "run").exists()


def test_empty_folder_and_unknown_model_type_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as stop:
        main(["--model_type", "dlsa", "--train_data_dir", str(tmp_path / "empty"), "--output_dir", str(tmp_path / "o")])
    assert stop.value.code == 2 and "no images in this folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--model_type", "nope", "--train_data_dir", str(tmp_path), "--output_dir", str(tmp_path / "o")])
    assert stop.value.code == 2


@pytest.mark.parametrize("variant", ["dlsa-tiny", "dlsa-small"])
def test_card_templates_render(variant):
    from pathlib import Path

    from hf_colorize.training.card import render_model_card

    template = Path(__file__).parent.parent / "hub_configs" / variant / "card_template.md"
    card = render_model_card(template, "dlsa", f"org/{variant}", 1.0, 3_270_000, "Trained on X.", "| k | 10 |")
    assert card.data.pipeline_tag == "image-to-image"
    assert {"image-colorization", "hf-colorize"} <= set(card.data.tags)
    assert "org/" + variant in card.text and "3.27M" in card.text and "| k | 10 |" in card.text
    assert "{{" not in card.text
