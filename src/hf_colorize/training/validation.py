"""Validation during training: image grids for TensorBoard and the PSNR table that goes into the model card."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from PIL import Image

from ..evaluation import Colorizer, EvalImage, grey_prediction, load_eval_image, psnr
from ..evaluation.report import finite_mean, markdown_table
from ..images import InvalidImageError, image_files
from .data import DataError, ImageSource


def validation_files(name: str) -> list[Path]:
    """The image files one ``--validation_images`` entry names: a file, or every image under a folder."""
    path = Path(name)
    if path.is_dir():
        files = image_files(path)
    elif path.is_file():
        files = [path]
    else:
        raise DataError(f"--validation_images {path}: no such file or folder")
    if not files:
        raise DataError(f"--validation_images {path}: no images found")
    return files


def load_validation_image(path: Path, resolution: int) -> EvalImage:
    try:
        return load_eval_image(path, crop_size=resolution)
    except InvalidImageError as error:
        raise DataError(f"--validation_images: {error}") from None


def load_validation_images(paths: Sequence[str], resolution: int) -> tuple[list[EvalImage], list[ImageSource]]:
    """The validation images as protocol crops of the training resolution, with their seeded hints, and one
    :class:`ImageSource` per entry of ``paths``."""
    images, sources = [], []
    for name in paths:
        files = validation_files(name)
        images += [load_validation_image(path, resolution) for path in files]
        sources.append(ImageSource(f"--validation_images {name}", len(files)))
    return images, sources


@contextmanager
def evaluation_mode(model: torch.nn.Module) -> Iterator[None]:
    """Run the body with ``model`` in eval mode and without gradients, then give it back its former mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


GRID_ROWS = 16
"""Most images a validation grid shows (every validation image is scored)."""


def validate(
    model: torch.nn.Module, colorize: Colorizer, images: list[EvalImage], count: int
) -> tuple[Image.Image, float]:
    """The model's mean PSNR over ``images`` with ``count`` hints, and a grid of the first :data:`GRID_ROWS`
    of them, one row per image: the grey input, the model's colorization, the ground truth."""
    with evaluation_mode(model):
        outputs = colorize(model, images, count)
    rows = [
        torch.cat([grey_prediction(image), output, image.target_rgb], dim=-1)
        for image, output in zip(images[:GRID_ROWS], outputs)
    ]
    grid = Image.fromarray(torch.cat(rows, dim=-2).permute(1, 2, 0).numpy())
    return grid, finite_mean(psnr(output, image.target_rgb) for output, image in zip(outputs, images))


def psnr_table(
    model: torch.nn.Module, colorize: Colorizer, images: list[EvalImage], hint_counts: Sequence[int]
) -> dict[str, dict[str, float]]:
    """Mean PSNR of the model and of the grey baseline for each hint count, keyed like the benchmark JSON."""
    grey = finite_mean(psnr(grey_prediction(image), image.target_rgb) for image in images)
    scores = {"grey": {str(count): grey for count in hint_counts}, "model": {}}
    with evaluation_mode(model):
        for count in hint_counts:
            outputs = colorize(model, images, count)
            scores["model"][str(count)] = finite_mean(
                psnr(output, image.target_rgb) for output, image in zip(outputs, images)
            )
    return scores


def psnr_markdown(scores: dict[str, dict[str, float]]) -> str:
    """The :func:`psnr_table` scores as a Markdown table, one column per hint count."""
    counts = list(scores["model"])
    return markdown_table(scores, counts, [f"k={count}" for count in counts])
