"""The class-distribution loss (``--semantic_loss_weight``): the teacher's input scaling, zero for the truth, positive
for grey, gradients that reach the colorization and never the frozen classifier, and the trainer's use of it."""

import pytest
import torch
from conftest import tiny_smsanet_config
from safetensors.torch import load_file

from hf_colorize.color import normalize_ab, normalize_lightness, rgb_to_lab
from hf_colorize.training import TrainingArgumentError, build_parser, train
from hf_colorize.training.semantic_loss import ClassDistributionLoss, normalised_lab_to_teacher_pixels


@pytest.fixture(scope="module")
def semantic_loss() -> ClassDistributionLoss:
    return ClassDistributionLoss()


def normalised_lab(rgb: torch.Tensor) -> torch.Tensor:
    lab = rgb_to_lab(rgb)
    return torch.cat([normalize_lightness(lab[:, :1]), normalize_ab(lab[:, 1:])], dim=1)


def colourful_crops() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(4, 3, 4, 4, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=64, mode="bilinear", align_corners=False)


def test_teacher_pixels_are_imagenet_scaled_srgb():
    white_and_black = torch.tensor([1.0, -1.0]).view(2, 1, 1, 1).expand(2, 1, 2, 2)
    lab = torch.cat([white_and_black, torch.zeros(2, 2, 2, 2)], dim=1)
    pixels = normalised_lab_to_teacher_pixels(lab)
    torch.testing.assert_close(pixels[0], torch.full((3, 2, 2), 128 / 128), atol=2e-3, rtol=0)
    torch.testing.assert_close(pixels[1], torch.full((3, 2, 2), -127 / 128), atol=2e-3, rtol=0)
    rgb = colourful_crops()
    torch.testing.assert_close(normalised_lab_to_teacher_pixels(normalised_lab(rgb)), (rgb * 255 - 127) / 128,
                               atol=2e-3, rtol=0)  # fmt: skip


def test_loss_is_zero_for_the_truth_and_positive_for_grey(semantic_loss):
    truth = normalised_lab(colourful_crops())
    grey = torch.cat([truth[:, :1], torch.zeros_like(truth[:, 1:])], dim=1)
    assert semantic_loss(truth, truth).abs().item() < 1e-5
    assert semantic_loss(truth, grey).item() > 1e-3


def test_gradient_reaches_the_colorization_alone(semantic_loss):
    truth = normalised_lab(colourful_crops())
    ab = torch.zeros_like(truth[:, 1:], requires_grad=True)
    semantic_loss.train()  # the classifier stays in eval mode: fixed statistics, no dropout
    assert not semantic_loss.classifier.training
    semantic_loss(truth, torch.cat([truth[:, :1], ab], dim=1)).backward()
    assert ab.grad.abs().sum() > 0
    assert all(parameter.grad is None for parameter in semantic_loss.classifier.parameters())


def run_arguments(image_folder, config_dir, output_dir, *extra):
    return build_parser().parse_args(
        [
            "--config", str(config_dir), "--train_data_dir", str(image_folder), "--output_dir", str(output_dir),
            "--resolution", "64", "--train_batch_size", "2", "--max_train_steps", "2", "--report_to", "none",
            "--learning_rate", "1e-2", "--lr_warmup_steps", "0", *extra,
        ]
    )  # fmt: skip


def test_trainer_adds_the_weighted_semantic_loss(image_folder, tmp_path):
    config_dir = tmp_path / "config"
    tiny_smsanet_config().save_pretrained(config_dir)
    plain = load_file(train(run_arguments(image_folder, config_dir, tmp_path / "plain")) / "model.safetensors")
    semantic = train(run_arguments(image_folder, config_dir, tmp_path / "semantic", "--semantic_loss_weight", "10"))
    weights = load_file(semantic / "model.safetensors")
    assert plain.keys() == weights.keys()
    assert any(not torch.equal(plain[name], weights[name]) for name in plain)  # same seed: only the loss differs
    with pytest.raises(TrainingArgumentError, match="--semantic_loss_weight must be at least 0, got -1.0"):
        train(run_arguments(image_folder, config_dir, tmp_path / "bad", "--semantic_loss_weight", "-1"))
    unreachable = ("--semantic_loss_weight", "1", "--semantic_loss_teacher", "nobody/nothing")
    with pytest.raises(TrainingArgumentError, match="--semantic_loss_teacher nobody/nothing: cannot load"):
        train(run_arguments(image_folder, config_dir, tmp_path / "unreachable", *unreachable))
