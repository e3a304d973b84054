"""PSNR@k of point-hint models against the grey and Levin et al. 2004 baselines on the corpus test folders.

    python benchmarks/evaluate_quality.py [--model DIR_OR_ID ...] [--corpus ../shared/corpus] [--no_levin]

The protocol is fixed in ``hf_colorize.evaluation.protocol`` (shorter side 256, centre 224 crop, hints
from a per-file seeded draw nested across k, true L kept). Writes ``benchmarks/results/quality.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForImageToImage

import hf_colorize
from hf_colorize.evaluation import (
    HINT_COUNTS,
    EvalImage,
    colorize_with_hints,
    grey_prediction,
    load_eval_image,
    psnr,
)
from hf_colorize.evaluation.levin import levin_colorize
from hf_colorize.evaluation.protocol import compose

RESULTS = Path(__file__).parent / "results"
FOLDERS = ("photos/test", "illustrations/test")
BATCH = 8


def levin_scores(images: list[EvalImage], label: str) -> dict[str, float]:
    scores = {}
    for count in tqdm(HINT_COUNTS, desc=f"levin on {label}"):
        outputs = [compose(image, levin_colorize(image.lab[:1], *image.hints(count))) for image in images]
        scores[str(count)] = statistics.mean(psnr(output, image.target_rgb) for output, image in zip(outputs, images))
    return scores


def evaluate_folder(models: dict[str, torch.nn.Module], folder: Path, levin: bool) -> dict[str, dict[str, float]]:
    images = [load_eval_image(path) for path in sorted(folder.iterdir()) if path.is_file()]
    grey = statistics.mean(psnr(grey_prediction(image), image.target_rgb) for image in images)
    scores = {"grey": {str(count): grey for count in HINT_COUNTS}}
    if levin:
        scores["levin"] = levin_scores(images, f"{folder.parent.name}/{folder.name}")
    for name, model in models.items():
        scores[name] = {}
        for count in tqdm(HINT_COUNTS, desc=f"{name} on {folder.parent.name}/{folder.name}"):
            values = []
            for start in range(0, len(images), BATCH):
                batch = images[start : start + BATCH]
                outputs = colorize_with_hints(model, batch, count)
                values += [psnr(output, image.target_rgb) for output, image in zip(outputs, batch)]
            scores[name][str(count)] = statistics.mean(values)
    return scores


def markdown(results: dict) -> str:
    lines = ["# Colorization quality (PSNR dB, RGB uint8, higher is better)", ""]
    lines.append("Protocol: `hf_colorize.evaluation.protocol` (224 centre crops, true L, seeded nested hints).")
    lines.append("Baselines: grey (ab = 0) and Levin, Lischinski & Weiss 2004 with the same hints.")
    for folder, scores in results["folders"].items():
        lines += ["", f"## `{folder}` ({results['counts'][folder]} images)", ""]
        lines.append("| method | " + " | ".join(f"k={k}" for k in HINT_COUNTS) + " |")
        lines.append("|---|" + "---|" * len(HINT_COUNTS))
        for method, by_count in scores.items():
            lines.append(f"| {method} | " + " | ".join(f"{by_count[str(k)]:.2f}" for k in HINT_COUNTS) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="model folders or Hub ids (default: the bundled model)")
    parser.add_argument("--corpus", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpus"))
    parser.add_argument("--output", default=str(RESULTS / "quality"), help="output path without extension")
    parser.add_argument("--no_levin", action="store_true", help="skip the (slow) Levin et al. baseline")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model_ids = args.model or [hf_colorize.DEFAULT_MODEL]
    models = {
        ("bundled dlsa-tiny" if path == hf_colorize.DEFAULT_MODEL else path): AutoModelForImageToImage.from_pretrained(
            path
        ).eval()
        for path in model_ids
    }
    results = {"folders": {}, "counts": {}}
    for folder in FOLDERS:
        path = Path(args.corpus) / folder
        results["folders"][folder] = evaluate_folder(models, path, levin=not args.no_levin)
        results["counts"][folder] = sum(1 for p in path.iterdir() if p.is_file())
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
