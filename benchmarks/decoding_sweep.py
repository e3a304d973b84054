"""Calibrate an automatic model's output settings, or a point-hint model's given no hint, on held-out training
pictures (never on the test folders).

    python benchmarks/decoding_sweep.py MODEL --images runs/split-photos/validation runs/split-illus/validation
        [--settings chroma_gain=1.0 chroma_gain=1.4 classification_mix=0.5,annealed_mean_temperature=0.38 ...]

A regression trained with an L1-like loss predicts a middle colour where several are plausible, so its output is
paler than the truth. Several config fields change only how the output is decoded, not the loss or the weights:
``chroma_gain`` scales the predicted ab, and with a classification head ``classification_mix`` and
``annealed_mean_temperature`` blend in its annealed mean (see ``SmsanetConfig``); a point-hint model is run with no
hint, and ``automatic_chroma_gain`` scales its ab then (see ``DlsaConfig``). Each ``--settings`` entry is one
row: comma-separated ``field=value`` pairs set on the model's config (the default sweeps ``chroma_gain`` from 1 to 2).
For each row this prints, under the benchmark protocol (224 centre crops, true L kept): PSNR, its gain over grey,
the share of pictures more than 1 dB below grey, and the colourfulness as a share of the truth's (pictures that
are grey already are left out). Writes ``benchmarks/results/decoding_<model>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import torch
from evaluate_quality import RESULTS, load_model, model_method

from hf_colorize.evaluation import grey_prediction, load_eval_image
from hf_colorize.evaluation.metrics import colorfulness, psnr
from hf_colorize.images import image_files

BELOW_GREY_DB = 1.0


def image_paths(folders: list[str]) -> list[Path]:
    """The image files in ``folders`` (:func:`~hf_colorize.images.image_files`), sorted together."""
    return sorted(path for folder in folders for path in image_files(Path(folder)))


def coloured(images: list) -> list:
    """The pictures that are not grey already (whose grey PSNR would be infinite)."""
    return [image for image in images if math.isfinite(psnr(grey_prediction(image), image.target_rgb))]


def parse_setting(text: str) -> dict[str, float]:
    """``"field=value,field=value"`` as a dict of config fields and numbers."""
    pairs = [item.split("=", 1) for item in text.split(",")]
    if any(len(pair) != 2 for pair in pairs):
        raise argparse.ArgumentTypeError(f"expected field=value[,field=value...], got {text!r}")
    return {field: float(value) for field, value in pairs}


def sweep(model: torch.nn.Module, images: list, settings: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    targets = [image.target_rgb for image in images]
    grey = [psnr(grey_prediction(image), target) for image, target in zip(images, targets)]
    truth_colour = statistics.mean(colorfulness(target) for target in targets)
    rows = {"grey": {"psnr": statistics.mean(grey)}}
    for setting in settings:
        for field, value in setting.items():
            setattr(model.config, field, value)
        model.config.validate_architecture()
        outputs = model_method(model)(images, 0)  # a point-hint model's with no hint
        scores = [psnr(output, target) for output, target in zip(outputs, targets)]
        rows[", ".join(f"{field} {value:g}" for field, value in setting.items())] = {
            "psnr": statistics.mean(scores),
            "over_grey": statistics.mean(scores) - statistics.mean(grey),
            "share_below": sum(s - g < -BELOW_GREY_DB for s, g in zip(scores, grey)) / len(scores),
            "colourfulness": statistics.mean(colorfulness(output) for output in outputs) / truth_colour,
        }
    return rows


def markdown(name: str, rows: dict, count: int) -> str:
    lines = [
        f"# Output settings of {name} on {count} held-out training pictures",
        "",
        "| setting | PSNR (dB) | over grey (dB) | more than 1 dB below grey | colourfulness / truth's |",
        "|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        if label == "grey":
            lines.append(f"| grey | {row['psnr']:.2f} | - | - | 0 % |")
            continue
        lines.append(
            f"| {label} | {row['psnr']:.2f} | {row['over_grey']:+.2f} | {100 * row['share_below']:.0f} % | "
            f"{100 * row['colourfulness']:.0f} % |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder, Hub id or bundled model name")
    parser.add_argument("--images", nargs="+", required=True, help="held-out image folders (not the test folders)")
    parser.add_argument(
        "--settings",
        type=parse_setting,
        nargs="+",
        default=[{"chroma_gain": gain} for gain in (1.0, 1.2, 1.4, 1.6, 1.8, 2.0)],
        help="rows of comma-separated field=value config settings",
    )
    parser.add_argument("--output", help="output path without extension")
    parser.add_argument("--num_threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.num_threads)
    paths = image_paths(args.images)
    if any("test" in Path(folder).parts for folder in args.images):
        parser.error("--images: calibrate on held-out training pictures, not on a test folder")
    model, name = load_model(args.model)
    images = coloured([load_eval_image(path) for path in paths])
    with torch.no_grad():
        rows = sweep(model, images, args.settings)
    output = Path(args.output or RESULTS / f"decoding_{name.split()[0]}")
    output.with_suffix(".json").write_text(json.dumps({"images": len(images), "rows": rows}, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(name, rows, len(images)))
    print(markdown(name, rows, len(images)))


if __name__ == "__main__":
    main()
