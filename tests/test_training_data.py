import json
import logging
import math

import numpy as np
import torch
from huggingface_hub import ModelCard
from PIL import Image

from hf_colorize.models.dlsa.training_dlsa import (
    MAX_FADE_FACTOR,
    hint_model_inputs,
    sample_contrast_hint_positions,
    turn_hue_around_hint,
)
from hf_colorize.training import main
from hf_colorize.training.data import lab_targets, load_image_dataset
from hf_colorize.training.trainer import checkpoint_steps

SPLIT_WORDS = ["holiday-test-3.jpg", "dev_01.png", "photo_bullet_train.jpg", "clip_val_01.png", "eval-2.png"]
"""File names with the words ``datasets`` reads splits from (train, val, test, dev, eval between separators)."""


def save_images(folder, names, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / name)


def test_a_folder_whose_names_carry_split_words_loads_every_image(tmp_path):
    save_images(tmp_path / "photos", [*SPLIT_WORDS, "validation/x_validation.png", "train/nested/y.png"])
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    save_images(tmp_path / "photos" / ".cache", ["hidden.png"])
    dataset, sources = load_image_dataset([str(tmp_path / "photos")])
    paths = sorted(image["path"] for image in dataset["image"])
    expected = [*SPLIT_WORDS, "train/nested/y.png", "validation/x_validation.png"]
    assert paths == sorted(str(tmp_path / "photos" / name) for name in expected)
    assert [(source.name, source.count) for source in sources] == [(f"--train_data_dir {tmp_path / 'photos'}", 7)]


def training_arguments(config_dir, output_dir, *extra):
    return [
        "--config", str(config_dir), "--output_dir", str(output_dir), "--resolution", "64", "--max_hints", "5",
        "--report_to", "none", "--checkpointing_steps", "1", *extra,
    ]  # fmt: skip


def test_the_trainer_prints_each_source_and_its_image_count(tmp_path, config_dir, capsys):
    photos, drawings, validation = tmp_path / "photos", tmp_path / "drawings", tmp_path / "validation"
    save_images(photos, SPLIT_WORDS)
    save_images(drawings, ["a_train.png", "b/c_test.png"], seed=1)
    save_images(validation, ["dev_1.png", "more/test_2.png"], seed=2)
    main(
        training_arguments(config_dir, tmp_path / "run", "--max_train_steps", "1", "--train_batch_size", "2")
        + ["--train_data_dir", str(photos), str(drawings), "--validation_images", str(validation)]
    )
    lines = capsys.readouterr().out.splitlines()
    assert f"--train_data_dir {photos}: 5 images" in lines
    assert f"--train_data_dir {drawings}: 2 images" in lines
    assert f"--validation_images {validation}: 2 images" in lines
    assert "7 training images, no undecodable image" in lines[-1]


def test_an_undecodable_image_is_skipped_named_once_and_counted(tmp_path, config_dir, capsys, caplog):
    folder = tmp_path / "images"
    save_images(folder, [f"good{index}.png" for index in range(5)])
    (folder / "garbage.jpg").write_bytes(b"not a jpeg at all")
    truncated = (folder / "good0.png").read_bytes()
    (folder / "truncated.png").write_bytes(truncated[: len(truncated) // 2])
    output_dir = tmp_path / "run"
    arguments = training_arguments(config_dir, output_dir, "--train_data_dir", str(folder))
    with caplog.at_level(logging.WARNING):  # every batch is the whole folder: each bad image is met at every step
        main([*arguments, "--max_train_steps", "3", "--train_batch_size", "7"])

    assert checkpoint_steps(output_dir) == [1, 2, 3]
    for name in ("garbage.jpg", "truncated.png"):
        warnings = [record.getMessage() for record in caplog.records if name in record.getMessage()]
        assert len(warnings) == 1 and "cannot be decoded" in warnings[0]
    summary = capsys.readouterr().out.splitlines()[-1]
    assert "3 steps on 7 training images, 2 undecodable images skipped" in summary
    assert "garbage.jpg" in summary and "truncated.png" in summary
    assert "2 undecodable images skipped" in ModelCard.load(output_dir / "README.md").text
    state = json.loads((output_dir / "checkpoint-3" / "trainer_state.json").read_text())
    assert sorted(state["undecodable_images"]) == [str(folder / "garbage.jpg"), str(folder / "truncated.png")]


def two_region_rgb(size=64):
    """A dark red left half and a light yellow-green right half: a lightness edge of about 45 L* between them."""
    rgb = torch.empty(3, size, size)
    rgb[:, :, : size // 2] = torch.tensor([0.8, 0.1, 0.1])[:, None, None]
    rgb[:, :, size // 2 :] = torch.tensor([0.6, 0.95, 0.5])[:, None, None]
    return rgb


def test_a_hue_turn_around_a_hint_recolours_its_region_only():
    lightness, ab = lab_targets(two_region_rgb()[None])
    turned = turn_hue_around_hint(lightness[0], ab[0], torch.tensor([10, 10]), math.pi, 0.5, 0.3)
    at_hint = (slice(None), slice(10, 12), slice(10, 12))
    assert torch.allclose(turned[at_hint], -ab[0][at_hint], atol=0.05)  # turned by about 180 degrees at the hint
    assert torch.allclose(turned[at_hint].norm(dim=0), ab[0][at_hint].norm(dim=0), atol=1e-4)  # chroma kept
    assert (turned[:, :, 40:] - ab[0][:, :, 40:]).abs().max() < 0.02  # beyond the edge nothing changes


def test_counterfactual_hints_come_from_the_recoloured_labels():
    rgb = two_region_rgb()[None].repeat(4, 1, 1, 1)
    _, truth = lab_targets(rgb)
    torch.manual_seed(0)
    plain = hint_model_inputs(rgb, max_hints=3)
    assert torch.equal(plain["labels"], truth)
    torch.manual_seed(0)
    recoloured = hint_model_inputs(rgb, max_hints=3, counterfactual_rate=1.0)
    hint_ab, hint_mask = recoloured["pixel_values"][:, 1:3], recoloured["pixel_values"][:, 3:]
    with_hints = hint_mask.flatten(1).amax(1) > 0
    assert with_hints.any()
    changed = (recoloured["labels"] - truth).abs().flatten(1).amax(1) > 0.1
    assert torch.equal(changed, with_hints)  # every image with hints was recoloured, no other
    assert torch.allclose(hint_ab * hint_mask, recoloured["labels"] * hint_mask, atol=0.02)  # the square's mean


def test_faded_images_fade_the_labels_and_hints_of_images_with_hints_only():
    rgb = torch.tensor([0.8, 0.3, 0.2])[None, :, None, None].repeat(16, 1, 32, 32)  # one colour: a hint is exact
    _, truth = lab_targets(rgb)
    torch.manual_seed(0)
    faded = hint_model_inputs(rgb, max_hints=3, faded_rate=1.0)
    hint_ab, hint_mask = faded["pixel_values"][:, 1:3], faded["pixel_values"][:, 3:]
    with_hints = hint_mask.flatten(1).amax(1) > 0
    assert with_hints.any() and not with_hints.all()
    chroma_ratio = faded["labels"].norm(dim=1).flatten(1).mean(1) / truth.norm(dim=1).flatten(1).mean(1)
    assert (chroma_ratio[with_hints] <= MAX_FADE_FACTOR + 1e-4).all()  # faded towards grey ...
    assert torch.allclose(faded["labels"] / chroma_ratio[:, None, None, None], truth, atol=1e-4)  # ... keeping hue
    assert torch.equal(faded["labels"][~with_hints], truth[~with_hints])  # without a hint nothing tells a fade
    assert torch.allclose(hint_ab * hint_mask, faded["labels"] * hint_mask, atol=1e-4)  # hints from the faded truth


def test_contrast_hints_fall_on_the_small_object_whose_colour_stands_out():
    rgb = torch.empty(3, 64, 64)
    rgb[:] = torch.tensor([0.8, 0.3, 0.2])[:, None, None]  # a reddish picture ...
    rgb[:, 40:48, 10:18] = torch.tensor([0.2, 0.7, 0.2])[:, None, None]  # ... with one small green object (2 %)
    _, ab = lab_targets(rgb[None])
    torch.manual_seed(0)
    positions = sample_contrast_hint_positions(ab[0], 400)
    assert len(set(map(tuple, positions.tolist()))) == 400  # distinct squares
    on_object = (positions[:, 0] >= 39) & (positions[:, 0] < 48) & (positions[:, 1] >= 9) & (positions[:, 1] < 18)
    assert on_object.sum() > 50  # drawn uniformly, about 8 of 400 would touch it

    def share_of_hints_on_object(contrast_rate: float) -> float:
        torch.manual_seed(0)
        inputs = hint_model_inputs(rgb[None].repeat(32, 1, 1, 1), max_hints=8, contrast_rate=contrast_rate)
        hint_mask = inputs["pixel_values"][:, 3]
        return float(hint_mask[:, 40:48, 10:18].sum() / hint_mask.sum())

    assert share_of_hints_on_object(1.0) > 5 * share_of_hints_on_object(0.0)


def test_without_hints_share_leaves_that_share_of_images_without_any_hint():
    rgb = two_region_rgb()[None].repeat(400, 1, 1, 1)

    def share_without_hints(rate: float) -> float:
        torch.manual_seed(0)
        hint_mask = hint_model_inputs(rgb, max_hints=8, without_hints_rate=rate)["pixel_values"][:, 3]
        return float((hint_mask.flatten(1).amax(1) == 0).float().mean())

    assert share_without_hints(1.0) == 1.0
    drawn_zeros = share_without_hints(
        0.0
    )  # the count draws' own zeros: about 1/8 of the geometric half, 1/9 of U(0, 8)
    assert drawn_zeros < 0.2
    assert abs(share_without_hints(0.5) - (0.5 + 0.5 * drawn_zeros)) < 0.08  # half, plus the draws' zeros of the rest
