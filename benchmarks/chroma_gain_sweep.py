"""Calibrate an automatic model's ``chroma_gain`` on held-out training pictures (never on the test folders).

    python benchmarks/chroma_gain_sweep.py MODEL --images runs/split-photos/validation runs/split-illus/validation
                                           [--gains 1.0 1.2 1.4 1.6 1.8 2.0]

A regression trained with an L1-like loss predicts a middle colour where several are plausible, so its output is
paler than the truth; ``chroma_gain`` scales the predicted ab at the output (see ``SmsanetConfig``). For each gain
this prints, under the benchmark protocol (224 centre crops, true L kept): PSNR, its gain over grey, the share of
pictures more than 1 dB below grey, and the colourfulness as a share of the truth's (pictures that are grey already
are left out). Writes
``benchmarks/results/chroma_gain_<model>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import torch
from evaluate_quality import RESULTS, load_model

from hf_colorize.color import normalize_lightness
from hf_colorize.evaluation import compose, grey_prediction, load_eval_image
from hf_colorize.evaluation.metrics import colorfulness, psnr
from hf_colorize.images import IMAGE_EXTENSIONS

BATCH = 8
BELOW_GREY_DB = 1.0


def colorize(model: torch.nn.Module, images: list) -> list[torch.Tensor]:
    """uint8 RGB of each protocol image: the model's ab from the lightness alone, with the true L."""
    outputs = []
    for start in range(0, len(images), BATCH):
        batch = images[start : start + BATCH]
        lightness = torch.stack([normalize_lightness(image.lab[:1]) for image in batch])
        outputs += [compose(image, ab) for image, ab in zip(batch, model(pixel_values=lightness).ab)]
    return outputs


def coloured(images: list) -> list:
    """The pictures that are not grey already (whose grey PSNR would be infinite)."""
    return [image for image in images if math.isfinite(psnr(grey_prediction(image), image.target_rgb))]


def sweep(model: torch.nn.Module, images: list, gains: list[float]) -> dict[str, dict[str, float]]:
    targets = [image.target_rgb for image in images]
    grey = [psnr(grey_prediction(image), target) for image, target in zip(images, targets)]
    truth_colour = statistics.mean(colorfulness(target) for target in targets)
    rows = {"grey": {"psnr": statistics.mean(grey)}}
    for gain in gains:
        model.config.chroma_gain = gain
        outputs = colorize(model, images)
        scores = [psnr(output, target) for output, target in zip(outputs, targets)]
        rows[f"gain {gain:g}"] = {
            "psnr": statistics.mean(scores),
            "over_grey": statistics.mean(scores) - statistics.mean(grey),
            "share_below": sum(s - g < -BELOW_GREY_DB for s, g in zip(scores, grey)) / len(scores),
            "colourfulness": statistics.mean(colorfulness(output) for output in outputs) / truth_colour,
        }
    return rows


def markdown(name: str, rows: dict, count: int) -> str:
    lines = [
        f"# chroma_gain sweep of {name} on {count} held-out training pictures",
        "",
        "| gain | PSNR (dB) | over grey (dB) | more than 1 dB below grey | colourfulness / truth's |",
        "|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        if label == "grey":
            lines.append(f"| grey | {row['psnr']:.2f} | - | - | 0 % |")
            continue
        lines.append(
            f"| {label.split()[1]} | {row['psnr']:.2f} | {row['over_grey']:+.2f} | {100 * row['share_below']:.0f} % | "
            f"{100 * row['colourfulness']:.0f} % |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder, Hub id or bundled model name")
    parser.add_argument("--images", nargs="+", required=True, help="held-out image folders (not the test folders)")
    parser.add_argument("--gains", type=float, nargs="+", default=[1.0, 1.2, 1.4, 1.6, 1.8, 2.0])
    parser.add_argument("--output", help="output path without extension")
    parser.add_argument("--num_threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.num_threads)
    paths = sorted(
        path for folder in args.images for path in Path(folder).iterdir() if path.suffix.lower() in IMAGE_EXTENSIONS
    )
    if any("test" in Path(folder).parts for folder in args.images):
        parser.error("--images: calibrate on held-out training pictures, not on a test folder")
    model, name = load_model(args.model)
    images = coloured([load_eval_image(path) for path in paths])
    with torch.no_grad():
        rows = sweep(model, images, args.gains)
    output = Path(args.output or RESULTS / f"chroma_gain_{name.split()[0]}")
    output.with_suffix(".json").write_text(json.dumps({"images": len(images), "rows": rows}, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(name, rows, len(images)))
    print(markdown(name, rows, len(images)))


if __name__ == "__main__":
    main()
