"""Target-reference pairs for exemplar training (paper 002, Sec. 4.1), built from an image dataset.

The paper draws each target's reference from three kinds with weights alpha: its top-1 match (0.6), one of its
top-5 (0.3), another image of its class (0.1). A folder of images has no classes and no retrieval pipeline, so
the kinds here are: the target's own picture, re-cropped, flipped and colour-jittered (the closest possible
match, alpha 0.6 by default); its nearest neighbour by backbone features (0.3); any other image (0.1).

Nearest neighbours come from the cosine similarity of globally average-pooled backbone features of each
image's grey centre crop (the target side of the model, as the paper retrieves with VGG-19 features). The index
is computed once and cached as JSON next to the run, keyed by the dataset's fingerprint and the model's
weights, so a resumed run reads it back instead of recomputing it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..color import lab_to_rgb, rgb_to_lab
from .data import random_resized_crop

logger = logging.getLogger(__name__)

REFERENCE_KINDS = ("self", "nearest", "random")
DEFAULT_PROPORTIONS = (0.6, 0.3, 0.1)
"""alpha of each reference kind: the paper's top-1, top-5 and same-class weights."""

Describe = Callable[[torch.Tensor], torch.Tensor]
"""RGB batch ``(B, 3, S, S)`` in [0, 1] -> one descriptor per image ``(B, D)``: the exemplar family's own, from its
recipe (:class:`hf_colorize.training.recipes.ReferencePairing`)."""


def centre_crop(image: Image.Image, size: int) -> torch.Tensor:
    """The largest centred square of ``image``, resized to ``size``: RGB ``(3, size, size)`` in [0, 1]."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.convert("RGB").resize(
        (size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side)
    )
    return torch.from_numpy(np.asarray(square, dtype=np.float32) / 255.0).permute(2, 0, 1)


def grey(rgb: torch.Tensor) -> torch.Tensor:
    """The grey RGB image of each pixel's CIE lightness."""
    lab = rgb_to_lab(rgb)
    return lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(lab[:, 1:])], dim=1))


def nearest_neighbours(descriptors: torch.Tensor) -> list[int]:
    """For each row, the index of the most cosine-similar other row."""
    unit = torch.nn.functional.normalize(descriptors.double(), dim=1)
    similarity = unit @ unit.T
    similarity.fill_diagonal_(-float("inf"))
    return similarity.argmax(dim=1).tolist()


def describe_images(dataset, describe: Describe, size: int, batch_size: int = 16) -> torch.Tensor:
    """Descriptors of the grey centre crop of every image of ``dataset`` (rows with an ``"image"``), computed in
    batches without gradients. An image that could not be decoded (``None``) is described as a black square."""
    rows = []
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            images = dataset[start : start + batch_size]["image"]
            crops = [centre_crop(image, size) if image is not None else torch.zeros(3, size, size) for image in images]
            rows.append(describe(grey(torch.stack(crops))).float())
    return torch.cat(rows)


def weights_fingerprint(module: torch.nn.Module) -> str:
    """A short hash of a module's weights: the pair index is only reused with the model weights that made it."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def load_or_build_pair_index(path: Path, key: dict, build: Callable[[], list[int]]) -> list[int]:
    """The nearest-neighbour index cached at ``path`` if it was made for ``key``; else built and written there
    (atomically: a killed run never leaves half a file)."""
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return cached["nearest"]
    nearest = build()
    temporary = path.with_name(f".tmp-{path.name}")
    temporary.write_text(json.dumps({"key": key, "nearest": nearest}) + "\n")
    os.replace(temporary, path)
    return nearest


class ReferenceSampler:
    """Draws a reference picture for a target of the dataset: its own picture, its nearest neighbour or any other
    image, with ``proportions`` (torch's global generator, so a resumed run draws the same references)."""

    def __init__(self, dataset, nearest: list[int], proportions: Sequence[float] = DEFAULT_PROPORTIONS):
        if len(proportions) != len(REFERENCE_KINDS) or min(proportions) < 0 or sum(proportions) <= 0:
            raise ValueError(f"reference proportions {list(proportions)}: three non-negative weights, not all 0")
        if len(nearest) != len(dataset):
            raise ValueError(f"the pair index has {len(nearest)} entries for {len(dataset)} images")
        self.dataset = dataset
        self.nearest = nearest
        self.proportions = torch.tensor(proportions, dtype=torch.float64)

    def draw(self, index: int) -> tuple[str, Image.Image | None]:
        """The kind drawn and the reference image for the target at ``index`` (``None`` if it could not be decoded)."""
        kind = REFERENCE_KINDS[int(torch.multinomial(self.proportions, 1))]
        if kind == "self" or len(self.dataset) == 1:
            return "self", self.dataset[index]["image"]
        if kind == "nearest":
            return kind, self.dataset[self.nearest[index]]["image"]
        other = int(torch.randint(0, len(self.dataset) - 1, (1,)))
        return kind, self.dataset[other + (other >= index)]["image"]


def jitter_colours(rgb: torch.Tensor, saturation: tuple[float, float] = (0.7, 1.3)) -> torch.Tensor:
    """``rgb`` ``(3, H, W)`` with its chroma scaled by a random factor: the target's own picture as a reference
    should not be its exact colours."""
    lab = rgb_to_lab(rgb)
    factor = float(torch.empty(1).uniform_(*saturation))
    return lab_to_rgb(torch.cat([lab[:1], lab[1:] * factor]))


PAIR_INDEX = "pair_index.json"
"""In the output folder: each training image's nearest neighbour, cached for resumed runs."""


def reference_sampler(
    dataset,
    model: torch.nn.Module,
    describe: Describe,
    proportions: Sequence[float],
    resolution: int,
    output_dir: Path,
) -> ReferenceSampler:
    """Pairs each training image with its nearest neighbour under ``describe``, the model's descriptor (computed once
    at ``resolution``, cached in ``output_dir/pair_index.json`` for this dataset and these weights), and draws
    references with ``proportions``."""
    key = {"dataset": dataset._fingerprint, "model": weights_fingerprint(model), "resolution": resolution}

    def build() -> list[int]:
        logger.info("pairing %d training images with their nearest neighbours", len(dataset))
        return nearest_neighbours(describe_images(dataset, describe, resolution))

    return ReferenceSampler(dataset, load_or_build_pair_index(output_dir / PAIR_INDEX, key, build), proportions)


def reference_crops(
    sampler: ReferenceSampler, examples: list[dict], resolution: int, scale: tuple[float, float]
) -> torch.Tensor:
    """One reference crop per target: drawn by ``sampler``, randomly cropped (``scale`` of the area, resized to
    ``resolution``); the target's own picture is also colour-jittered, and stands in for a reference that cannot be
    decoded (reported when it is met as a target)."""
    crops = []
    for example in examples:
        kind, image = sampler.draw(example["index"])
        if image is None:
            kind, image = "self", example["image"]
        crop = random_resized_crop(image, resolution, scale)
        crops.append(jitter_colours(crop) if kind == "self" else crop)
    return torch.stack(crops)
