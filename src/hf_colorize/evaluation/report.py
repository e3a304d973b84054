"""Scoring many images at once and writing the scores as Markdown tables."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from .metrics import boundary_psnr, colorfulness, patch_error_variance, psnr, ssim

METRICS = {
    "psnr": psnr,
    "ssim": ssim,
    "boundary_psnr": boundary_psnr,
    "patch_error_variance": patch_error_variance,
}
"""Metrics of an output against its ground truth, all on uint8 RGB ``(3, H, W)``."""

METRIC_LABELS = {
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "boundary_psnr": "B-PSNR (dB)",
    "patch_error_variance": "PEV",
    "colorfulness": "colourfulness",
}


def finite_mean(values: Iterable[float]) -> float:
    """The mean of the finite ``values``; ``inf`` when none is finite.

    A PSNR is infinite where an output matches its truth exactly, as grey does on a picture that is grey already;
    one such picture would otherwise make the whole mean infinite.
    """
    finite = [value for value in values if math.isfinite(value)]
    return statistics.mean(finite) if finite else math.inf


def score_outputs(outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]) -> dict[str, float]:
    """Every metric of :data:`METRICS` averaged over the images, and the outputs' mean colourfulness.

    An image whose output is exact (in all its pixels, or in its boundary pixels) has an infinite PSNR or B-PSNR;
    those means are over the finite values (:func:`finite_mean`).
    """
    scores = {
        name: finite_mean(metric(output, target) for output, target in zip(outputs, targets))
        for name, metric in METRICS.items()
    }
    scores["colorfulness"] = statistics.mean(colorfulness(output) for output in outputs)
    return scores


METRIC_FORMATS = {"ssim": ".3f"}
"""Number formats of the columns that need more than 2 decimals."""


def markdown_table(rows: dict[str, dict[str, float]], columns: Sequence[str], headers: Sequence[str]) -> str:
    """``rows[name][column]`` as a Markdown table with the given column headers; 2 decimals unless
    :data:`METRIC_FORMATS` says otherwise, ``-`` where a row has no value for a column."""
    lines = ["| method | " + " | ".join(headers) + " |", "|---|" + "---|" * len(columns)]
    for name, values in rows.items():
        cells = [
            format(values[column], METRIC_FORMATS.get(column, ".2f")) if column in values else "-" for column in columns
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(output: str | Path, results: dict, tables: str) -> None:
    """A benchmark's ``OUTPUT.json`` (its results) and ``OUTPUT.md`` (their Markdown ``tables``), folders made as
    needed; the tables are printed too."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    output.with_suffix(".md").write_text(tables)
    print(tables)


def write_card_tables(output: str | Path, model_name: str, tables: str) -> None:
    """A bundled model's evaluation tables for its card, ``cards/<variant>.md`` next to ``output`` (the results
    file), without the tables' top-level title and with their sections one level down (inside the card's
    "Evaluation"); nothing for other models."""
    if not model_name.endswith(" (bundled)"):
        return
    cards = Path(output).parent / "cards"
    cards.mkdir(parents=True, exist_ok=True)
    body = tables.split("\n", 1)[1] if tables.startswith("# ") else tables
    body = "\n".join("#" + line if line.startswith("## ") else line for line in body.lstrip().splitlines())
    (cards / f"{model_name.split(' ')[0]}.md").write_text(body + "\n")
