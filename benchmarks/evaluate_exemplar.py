"""Exemplar colorization, measured: quality with the true colours as the reference, colour transfer from another
picture, and CPU time, for ``axial_exemplar`` models beside the grey and Reinhard et al. 2001 baselines.

    python benchmarks/evaluate_exemplar.py [--model axial-exemplar-small --model axial-exemplar-lite0]
                                           [--corpus ../shared/corpus] [--output benchmarks/results/exemplar]

On 224x224 centre crops of ``photos/test`` and ``illustrations/test`` (the protocol of ``evaluate_quality.py``):
1. own reference: each image's true colour picture is the reference; PSNR, SSIM and colourfulness of the output
   against the truth.
2. mirrored reference: the true colour picture mirrored left to right, its centre 168x168 (three quarters of the
   side) enlarged back to 224x224: the same colours, but not at the target's positions, so that they must be found
   by content. The same three scores.
3. other reference: image i of the sorted folder is coloured from image i + 1 (the last from the first); the
   histogram intersection similarity (HIS) of the output's ab to the reference's, as paper 002's Table 1, and
   SSIM to the target's truth.
4. seconds per 224x224 image on this CPU (batch 1, 2 threads, median of 10 after warm-up), next to the paper's
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
import torch.nn.functional as F
from evaluate_quality import CORPUS, FOLDERS, RESULTS, load_model, paths_of_test_set
from model_costs import cpu_name
from transformers import AutoConfig

from hf_colorize.bundled import BUNDLED_MODELS
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
MIRRORED_CROP = 168
"""Side of the centre crop of the mirrored truth that becomes the reference (three quarters of 224)."""
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


def mirrored_reference(image: EvalImage) -> EvalImage:
    """The image's true colours mirrored left to right, its centre ``MIRRORED_CROP`` square enlarged back to the
    crop's size (bilinear, in Lab)."""
    side = image.lab.shape[-1]
    offset = (side - MIRRORED_CROP) // 2
    window = image.lab.flip(-1)[:, offset : offset + MIRRORED_CROP, offset : offset + MIRRORED_CROP]
    lab = F.interpolate(window[None], size=(side, side), mode="bilinear", align_corners=False)[0]
    return EvalImage(image.name, lab, image.hint_positions)


def reference_scores(method: Method, images: list[EvalImage], references: list[EvalImage]) -> dict[str, float]:
    """PSNR, SSIM and colourfulness of the outputs coloured from ``references`` against the true pictures."""
    outputs = method(images, references)
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
        lines += [f"## `{folder}` ({scores['count']} images)", ""]
        for key, title in (
            ("own_reference", "Own colours"),
            ("mirrored_reference", "Own colours, mirrored and cropped"),
        ):
            lines += [f"{title} as the reference:", ""]
            lines += [
                markdown_table(scores[key], ["psnr", "ssim", "colorfulness"], ["PSNR (dB)", "SSIM", "colourfulness"]),
                "",
            ]
        lines += ["Next image of the folder as the reference:", ""]
        lines += [
            markdown_table(scores["other_reference"], ["his", "ssim"], ["HIS to the reference", "SSIM to the target"])
        ]
        lines.append("")
    for name, speed in results["speed"].items():
        lines.append(
            f"CPU time of `{name}`: {speed['seconds_per_image']:.3f} s per 224x224 image ({speed['cpu']}, "
            f"{speed['threads']} threads, fp32, batch 1); the paper: {PAPER_GPU_MS} ms on an RTX 2080 Ti."
        )
    return "\n".join(lines) + "\n"


def bundled_exemplar_models() -> list[str]:
    return [
        name for name, path in BUNDLED_MODELS.items() if AutoConfig.from_pretrained(path).model_type == "axial_exemplar"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        action="append",
        help="bundled model name, folder or Hub id, once per model (default: every bundled exemplar model)",
    )
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--output", default=str(RESULTS / "exemplar"), help="output path without extension")
    args = parser.parse_args()
    torch.set_num_threads(2)
    models = dict(reversed(load_model(model, "axial_exemplar")) for model in args.model or bundled_exemplar_models())
    methods: dict[str, Method] = {"grey": grey, "Reinhard et al. 2001": reinhard}
    methods.update({name: model_method(model) for name, model in models.items()})
    results = {
        "protocol": (
            "Each test image's shorter side resized to 256 (bicubic), centre 224 crop; the model sees the crop's "
            "lightness and a reference crop made the same way; the output's L is the true L. Mirrored and cropped: "
            f"the true crop mirrored left to right, its centre {MIRRORED_CROP}x{MIRRORED_CROP} enlarged back to "
            "224x224 (bilinear, in Lab). HIS: intersection of 21x21-bin ab histograms over [-110, 110] "
            "(`hf_colorize.evaluation.histogram_intersection`)."
        ),
        "models": list(models),
        "folders": {},
    }
    for folder in FOLDERS:
        images = [load_eval_image(path) for path in paths_of_test_set(Path(args.corpus), folder)]
        mirrored = [mirrored_reference(image) for image in images]
        with torch.no_grad():
            results["folders"][folder] = {
                "count": len(images),
                "own_reference": {label: reference_scores(method, images, images) for label, method in methods.items()},
                "mirrored_reference": {
                    label: reference_scores(method, images, mirrored) for label, method in methods.items()
                },
                "other_reference": {label: other_reference_scores(method, images) for label, method in methods.items()},
            }
    results["speed"] = {
        name: {"seconds_per_image": seconds_per_image(model), "cpu": cpu_name(), "threads": 2}
        for name, model in models.items()
    }
    write_results(args.output, results, markdown(results))
    for name in models:
        write_card_tables(args.output, name, markdown(results))


if __name__ == "__main__":
    main()
