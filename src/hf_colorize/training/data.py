"""Training data: image datasets through ``datasets``, random resized crops, and the normalised Lab targets that
every family's inputs start from; each family builds its own inputs in its recipe
(:mod:`hf_colorize.training.recipes`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..color import normalize_ab, normalize_lightness, rgb_to_lab
from ..images import decode_image, image_files

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """Training data that cannot be used; the message names the data and the problem."""


@dataclass(frozen=True)
class ImageSource:
    """Where images come from (a folder or a dataset, as the command line named it) and how many it holds
    (``None`` for a streamed dataset, whose length is not known before it has been read)."""

    name: str
    count: int | None

    def __str__(self) -> str:
        if self.count is None:
            return f"{self.name}: streamed"
        return f"{self.name}: {self.count:,} image{'s' if self.count != 1 else ''}"


def folder_dataset(folders: list[Path]):
    """One undecoded image ``datasets.Dataset`` of every image file in ``folders``, and each folder's count."""
    import datasets

    files, sources = [], []
    for folder in folders:
        if not folder.is_dir():
            raise DataError(f"--train_data_dir {folder}: folder not found")
        found = image_files(folder)
        if not found:
            raise DataError(f"--train_data_dir {folder}: no images in this folder")
        files += [str(path) for path in found]
        sources.append(ImageSource(f"--train_data_dir {folder}", len(found)))
    features = datasets.Features({"image": datasets.Image(decode=False)})
    return datasets.Dataset.from_dict({"image": files}, features=features), sources


def load_image_dataset(
    train_data_dir: str | list[str] | None = None,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    split: str = "train",
    image_column: str = "image",
    streaming: bool = False,
):
    """An image ``datasets.Dataset`` from one or more folders (every image file in them) or a Hub dataset (with
    ``streaming``, a ``datasets.IterableDataset`` read as it goes), and one :class:`ImageSource` per folder or
    dataset.

    Its ``image`` column is not decoded: :func:`decode_images` does that as a transform, so that one image that
    cannot be decoded is skipped instead of failing its whole batch.
    """
    import datasets

    if (not train_data_dir) == (dataset_name is None):
        raise DataError("give exactly one of --train_data_dir and --dataset_name")
    if train_data_dir:
        if streaming:
            raise DataError("--streaming is for --dataset_name; image folders are listed whole")
        folders = [Path(folder) for folder in ([train_data_dir] if isinstance(train_data_dir, str) else train_data_dir)]
        return folder_dataset(folders)
    dataset = datasets.load_dataset(dataset_name, dataset_config_name, split=split, streaming=streaming)
    columns = dataset.column_names or []  # a stream whose features are not declared names none before it is read
    if columns and image_column not in columns:
        raise DataError(f"dataset has no column {image_column!r} (columns: {', '.join(columns)})")
    if not streaming and len(dataset) == 0:
        raise DataError("the dataset is empty")
    dataset = dataset.select_columns([image_column])
    dataset = dataset if image_column == "image" else dataset.rename_column(image_column, "image")
    name = f"--dataset_name {dataset_name}" + (f" {dataset_config_name}" if dataset_config_name else "")
    source = ImageSource(f"{name} ({split})", None if streaming else len(dataset))
    return dataset.cast_column("image", datasets.Image(decode=False)), [source]


def decode_images(batch: dict[str, list]) -> dict[str, list]:
    """A ``datasets`` transform for rows with an undecoded ``image`` and their ``index``: each image decoded, or
    ``None`` with the ``problem`` that stopped it; ``name`` says which file (or row) it is."""
    decoded = [decode_image(image) for image in batch["image"]]
    names = [image.get("path") or f"row {index}" for image, index in zip(batch["image"], batch["index"])]
    return {
        "image": [image for image, _ in decoded],
        "problem": [problem for _, problem in decoded],
        "name": names,
        "index": batch["index"],
    }


def streamed_examples(stream, epoch: int, skipped: int, rank: int, world_size: int):
    """This process's share of a stream (split by node and shuffled), for ``epoch``, from its ``skipped``-th example
    on, decoded by :func:`decode_images`. Each example's ``index`` is unique over the processes:
    ``position * world_size + rank``, its position counted from the start of the epoch on this process."""

    def decode(batch: dict[str, list], positions: list[int]) -> dict[str, list]:
        indices = [(skipped + position) * world_size + rank for position in positions]
        return decode_images({"image": batch["image"], "index": indices})

    stream = (stream.skip(skipped) if skipped else stream).map(decode, batched=True, with_indices=True)
    stream.set_epoch(epoch)
    return stream


class UndecodableImages:
    """The training images met that could not be decoded: each is named in one warning the first time it is met,
    and the run goes on without it."""

    def __init__(self, names: Iterable[str] = ()):
        self.names = list(names)

    def sift(self, examples: list[dict]) -> list[dict]:
        """The examples whose image decoded; the others are reported."""
        for example in examples:
            if example["image"] is None and example["name"] not in self.names:
                logger.warning("skipping %s: the image cannot be decoded (%s)", example["name"], example["problem"])
                self.names.append(example["name"])
        return [example for example in examples if example["image"] is not None]

    def __len__(self) -> int:
        return len(self.names)


def random_resized_crop(
    image: Image.Image, resolution: int, scale: tuple[float, float] = (0.25, 1.0), flip: bool = True
) -> torch.Tensor:
    """A random crop covering ``scale`` of the area (aspect 3/4-4/3), resized to a square, maybe flipped.

    Randomness comes from torch's global generator, so ``accelerate``'s saved RNG states replay it.
    """
    width, height = image.size
    area = width * height
    for _ in range(10):
        target = area * float(torch.empty(1).uniform_(*scale))
        aspect = math.exp(float(torch.empty(1).uniform_(math.log(3 / 4), math.log(4 / 3))))
        crop_width, crop_height = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < crop_width <= width and 0 < crop_height <= height:
            break
    else:
        crop_width = crop_height = min(width, height)
    left = int(torch.randint(0, width - crop_width + 1, (1,)))
    top = int(torch.randint(0, height - crop_height + 1, (1,)))
    crop = image.convert("RGB").resize(
        (resolution, resolution), Image.Resampling.BICUBIC, box=(left, top, left + crop_width, top + crop_height)
    )
    rgb = torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255.0).permute(2, 0, 1)
    if flip and bool(torch.rand(1) < 0.5):
        rgb = rgb.flip(-1)
    return rgb


def lab_targets(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised model lightness ``(B, 1, H, W)`` and ab labels ``(B, 2, H, W)`` of an RGB batch."""
    lab = rgb_to_lab(rgb)
    return normalize_lightness(lab[:, :1]), normalize_ab(lab[:, 1:])
