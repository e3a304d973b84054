"""The fixed evaluation protocol used for every quality figure the project reports.

- Each test image is resized so its shorter side is 256 (bicubic) and centre-cropped to 224x224.
- The model sees only the crop's lightness (and hints).
- Hints are 2x2 squares at positions drawn from a generator seeded by the file name, nested across k
  (the k-hint set is the first k of one draw of 100), coloured with the true mean ab over the square.
- The prediction's L is replaced by the true L before scoring; PSNR is on RGB uint8.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..color import denormalize_ab, lab_to_rgb, normalize_ab, normalize_lightness, rgb_to_lab
from ..hints import hints_from_ground_truth, sample_hint_positions
from ..images import load_rgb

EVAL_SHORT_SIDE = 256
EVAL_CROP = 224
HINT_COUNTS = (0, 1, 2, 5, 10, 20, 50, 100)


@dataclass
class EvalImage:
    """One test image under the protocol: its name, Lab crop and the nested hint positions."""

    name: str
    lab: torch.Tensor  # (3, crop, crop)
    hint_positions: torch.Tensor  # (max(HINT_COUNTS), 2), nested: use the first k

    @property
    def target_rgb(self) -> torch.Tensor:
        return to_uint8(lab_to_rgb(self.lab))

    def hints(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised hint ab ``(2, H, W)`` and mask ``(1, H, W)`` for the first ``count`` hints."""
        return hints_from_ground_truth(normalize_ab(self.lab[1:]), self.hint_positions[:count])


def to_uint8(rgb: torch.Tensor) -> torch.Tensor:
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8)


def load_eval_image(path: str | Path, crop_size: int = EVAL_CROP) -> EvalImage:
    """The protocol's view of one image file; ``crop_size`` other than 224 (with the shorter side scaled
    alike) is for validation during training at other resolutions, never for reported figures."""
    path = Path(path)
    rgb = load_rgb(path)
    height, width = rgb.shape[-2:]
    short_side = round(EVAL_SHORT_SIDE * crop_size / EVAL_CROP)
    scale = short_side / min(height, width)
    size = (max(crop_size, round(width * scale)), max(crop_size, round(height * scale)))
    image = Image.fromarray(to_uint8(rgb).permute(1, 2, 0).numpy()).resize(size, Image.Resampling.BICUBIC)
    left, top = (size[0] - crop_size) // 2, (size[1] - crop_size) // 2
    crop = load_rgb(image.crop((left, top, left + crop_size, top + crop_size)))
    generator = torch.Generator().manual_seed(zlib.crc32(path.name.encode()))
    positions = sample_hint_positions(max(HINT_COUNTS), crop_size, crop_size, generator)
    return EvalImage(path.name, rgb_to_lab(crop), positions)


def compose(image: EvalImage, ab: torch.Tensor) -> torch.Tensor:
    """uint8 RGB of the true L with predicted ab (normalised, ``(2, H, W)``)."""
    return to_uint8(lab_to_rgb(torch.cat([image.lab[:1], denormalize_ab(ab)])))


def grey_prediction(image: EvalImage) -> torch.Tensor:
    """The grey baseline: ab = 0 everywhere."""
    return compose(image, torch.zeros_like(image.lab[1:]))


Colorizer = Callable[[torch.nn.Module, list[EvalImage], int], list[torch.Tensor]]
"""A family's way to colorize protocol images with ``k`` hints (ignored by a family that takes none): uint8 RGB
``(3, H, W)`` per image. Each family's lives in its training recipe (``models/<family>/training_<family>.py``), which
validation during training and the benchmarks use."""


def colorize_inputs(
    model: torch.nn.Module,
    images: list[EvalImage],
    pixel_values: torch.Tensor,
    predict: Callable[..., Any] | None = None,
    **model_inputs: torch.Tensor | torch.Generator,
) -> list[torch.Tensor]:
    """uint8 RGB of each image's true L with the ab the model predicts from ``pixel_values`` (and any other
    inputs the model takes). ``predict`` is what is called with the inputs: the model by default, or one of its
    methods (a sampling model's ``generate``). The tensors go to the model's device (a GPU during training), the ab
    comes back to the CPU as fp32."""
    device = next(model.parameters()).device
    model_inputs = {
        name: value.to(device) if isinstance(value, torch.Tensor) else value for name, value in model_inputs.items()
    }
    ab = (predict or model)(pixel_values=pixel_values.to(device), **model_inputs).ab.float().cpu()
    return [compose(image, prediction) for image, prediction in zip(images, ab)]


def lightness_batch(images: list[EvalImage]) -> torch.Tensor:
    """The crops' lightness scaled to [-1, 1], ``(B, 1, H, W)``: an automatic model's ``pixel_values``."""
    return torch.stack([normalize_lightness(image.lab[:1]) for image in images])


def normalized_lab(image: EvalImage) -> torch.Tensor:
    """The crop's Lab as an exemplar model's ``reference_values``: L scaled to [-1, 1], ab by 1/110."""
    return torch.cat([normalize_lightness(image.lab[:1]), normalize_ab(image.lab[1:])])
