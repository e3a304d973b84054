"""Exemplar colorization, measured: quality with the true colours as the reference, colour transfer from another
picture, and CPU time, for an ``axial_exemplar`` model beside the grey and Reinhard et al. 2001 baselines.

    python benchmarks/evaluate_exemplar.py [--model axial-exemplar-small] [--corpus ../shared/corpus]
                                           [--output benchmarks/results/exemplar]

On 224x224 centre crops of ``photos/test`` and ``illustrations/test`` (the protocol of ``evaluate_quality.py``):
1. own reference: each image's true colour picture is the reference; PSNR, SSIM and colourfulness of the output
   against the truth.
2. other reference: image i of the sorted folder is coloured from image i + 1 (the last from the first); the
   histogram intersection similarity (HIS) of the output's ab to the reference's, as paper 002's Table 1, and
   SSIM to the target's truth.
3. seconds per 224x224 image on this CPU (batch 1, 2 threads, median of 10 after warm-up), next to the paper's
   20 ms on an RTX 2080 Ti.
Writes ``OUTPUT.json`` and ``OUTPUT.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from evaluate_quality import CORPUS, FOLDERS, RESULTS, load_model, paths_of_test_set
from model_costs import cpu_name

from hf_colorize.color import normalize_ab
from hf_colorize.evaluation import (
    EvalImage,
    colorfulness,
    grey_prediction,
    histogram_intersection,
    load_eval_image,
    psnr,
    ssim,
)
from hf_colorize.evaluation.protocol import compose
from hf_colorize.evaluation.report import markdown_table, write_card_tables, write_results
from hf_colorize.evaluation.transfer import reinhard_transfer
from hf_colorize.models.axial_exemplar.training_axial_exemplar import colorize_with_reference

BATCH = 8
PAPER_GPU_MS = 20
"""Paper 002, Fig. 4: 20 ms per image on an RTX 2080 Ti."""

Method = Callable[[list[EvalImage], list[EvalImage]], list[torch.Tensor]]
"""Targets and their references -> uint8 RGB outputs."""


def grey(images: list[EvalImage], references: list[EvalImage]) -> list[torch.Tensor]:
    return [grey_prediction(image) for image in images]


def reinhard(images: list[EvalImage], references: list[EvalImage]) -> list[torch.Tensor]:
    """Reinhard et al.'s transfer from the grey target: its ab take the reference's mean colour."""
    outputs = []
    for image, reference in zip(images, references):
        grey_lab = torch.cat([image.lab[:1], torch.zeros_like(image.lab[1:])])
        outputs.append(compose(image, normalize_ab(reinhard_transfer(grey_lab, reference.lab)[1:])))
    return outputs


def model_method(model: torch.nn.Module) -> Method:
    def colorize(images: list[EvalImage], references: list[EvalImage]) -> list[torch.Tensor]:
        outputs = []
        for start in range(0, len(images), BATCH):
            batch, batch_references = images[start : start + BATCH], references[start : start + BATCH]
            outputs += colorize_with_reference(model, batch, references=batch_references)
        return outputs

    return colorize


def own_reference_scores(method: Method, images: list[EvalImage]) -> dict[str, float]:
    outputs = method(images, images)
    pairs = list(zip(outputs, (image.target_rgb for image in images)))
    return {
        "psnr": statistics.mean(psnr(output, target) for output, target in pairs),
        "ssim": statistics.mean(ssim(output, target) for output, target in pairs),
        "colorfulness": statistics.mean(colorfulness(output) for output in outputs),
    }


def other_reference_scores(method: Method, images: list[EvalImage]) -> dict[str, float]:
    references = images[1:] + images[:1]
    outputs = method(images, references)
    return {
        "his": statistics.mean(
            histogram_intersection(output, reference.target_rgb) for output, reference in zip(outputs, references)
        ),
        "ssim": statistics.mean(ssim(output, image.target_rgb) for output, image in zip(outputs, images)),
    }


def seconds_per_image(model: torch.nn.Module, runs: int = 10) -> float:
    inputs = model.dummy_inputs
    with torch.inference_mode():
        for _ in range(3):
            model(**inputs)
        timings = []
        for _ in range(runs):
            start = time.perf_counter()
            model(**inputs)
            timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def markdown(results: dict) -> str:
    lines = ["# Exemplar colorization (224x224 centre crops; RGB uint8)", "", results["protocol"], ""]
    for folder, scores in results["folders"].items():
        lines += [f"## `{folder}` ({scores['count']} images)", "", "Own colours as the reference:", ""]
        lines += [
            markdown_table(
                scores["own_reference"], ["psnr", "ssim", "colorfulness"], ["PSNR (dB)", "SSIM", "colourfulness"]
            )
        ]
        lines += ["", "Next image of the folder as the reference:", ""]
        lines += [
            markdown_table(scores["other_reference"], ["his", "ssim"], ["HIS to the reference", "SSIM to the target"])
        ]
        lines.append("")
    speed = results["speed"]
    lines.append(
        f"CPU time of `{results['model']}`: {speed['seconds_per_image']:.3f} s per 224x224 image ({speed['cpu']}, "
        f"{speed['threads']} threads, fp32, batch 1); the paper: {PAPER_GPU_MS} ms on an RTX 2080 Ti."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="axial-exemplar-small", help="bundled model name, folder or Hub id")
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--output", default=str(RESULTS / "exemplar"), help="output path without extension")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model, name = load_model(args.model, "axial_exemplar")
    methods: dict[str, Method] = {"grey": grey, "Reinhard et al. 2001": reinhard, name: model_method(model)}
    results = {
        "protocol": (
            "Each test image's shorter side resized to 256 (bicubic), centre 224 crop; the model sees the crop's "
            "lightness and a reference crop made the same way; the output's L is the true L. HIS: intersection of "
            "21x21-bin ab histograms over [-110, 110] (`hf_colorize.evaluation.histogram_intersection`)."
        ),
        "model": name,
        "folders": {},
    }
    for folder in FOLDERS:
        images = [load_eval_image(path) for path in paths_of_test_set(Path(args.corpus), folder)]
        with torch.no_grad():
            results["folders"][folder] = {
                "count": len(images),
                "own_reference": {label: own_reference_scores(method, images) for label, method in methods.items()},
                "other_reference": {label: other_reference_scores(method, images) for label, method in methods.items()},
            }
    results["speed"] = {"seconds_per_image": seconds_per_image(model), "cpu": cpu_name(), "threads": 2}
    write_results(args.output, results, markdown(results))
    write_card_tables(args.output, name, markdown(results))


if __name__ == "__main__":
    main()
