"""The two-stage cartoon colorizer, measured on ``illustrations/test`` (paper 003's Tables I and III).

    python benchmarks/evaluate_cartoon.py [--model cartoon-coltran-small] [--samples 8] [--features inception.pt]
                                          [--every 1] [--corpus ../shared/corpus] [--output benchmarks/results/cartoon]

On 224x224 centre crops (the protocol of ``evaluate_quality.py``), each given to the model at its own resolution
as the pipeline does (resized to ``image_size``, ab resized back, the true L kept):
1. the upgrading network alone, fed each image's own 3-bit colours on stage 1's grid: PSNR / SSIM of the 3-bit
   image itself (nearest upsampling, its own quantised lightness: "before upgrading"), of its ab upsampled
   bicubically with the true L ("interpolation"), and of the network's output ("after upgrading");
2. both stages, ``--samples`` colourings per image (seeds fixed): the Fréchet distance of their features to the
   test set's (``--features``: a TorchScript feature extractor, e.g. Inception-v3 for the real FID; by default
   colour statistics, which need no download), the best-of-N PSNR, the mean pairwise ab distance between an
   image's samples (diversity) and colourfulness, next to the grey baseline;
3. the cost of sampling: model calls and CPU seconds per 64x64 sample (batch 1, 2 threads);
4. stage 1's likelihood of each image's own 3-bit colours, teacher-forced (ColTran's measure): bits per pixel of
   the autoregressive prediction P_c and of the auxiliary one P~_c (Eq. 7); 9 bits is a uniform guess.
``--samples 0`` skips 2 and 3 (sampling takes about 4 s per sample); ``--every N`` scores every Nth picture only, for
quick comparisons between models (report the whole folder).
Writes ``OUTPUT.json`` and ``OUTPUT.md``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from evaluate_quality import CORPUS, RESULTS, load_model
from model_costs import cpu_name
from tqdm.auto import tqdm

from hf_colorize.color import lab_to_rgb, normalize_ab, normalize_lightness, rgb_to_lab
from hf_colorize.evaluation import EvalImage, colorfulness, grey_prediction, load_eval_image, psnr, ssim
from hf_colorize.evaluation.frechet import (
    COLOUR_FEATURES_NAME,
    colour_statistics_features,
    extract_features,
    frechet_distance,
    torchscript_features,
)
from hf_colorize.evaluation.protocol import compose, to_uint8
from hf_colorize.evaluation.report import markdown_table, write_card_tables, write_results
from hf_colorize.image_processing import resize_channels
from hf_colorize.models.cartoon_coltran.modeling_cartoon_coltran import coarse_colors, dequantize_colors

FOLDER = "illustrations/test"
PAPER_TABLE_I = {"before upgrading": (0.6776, 19.3983), "interpolation": (0.9497, 31.0157), "after": (0.9617, 36.5282)}
"""Paper 003, Table I: (SSIM, PSNR) of 64x64 3-bit images upgraded to 512x512."""


def model_lightness(model: torch.nn.Module, image: EvalImage) -> torch.Tensor:
    size = model.config.image_size
    return normalize_lightness(resize_channels(image.lab[:1], size, size))


def at_crop(ab: torch.Tensor, image: EvalImage) -> torch.Tensor:
    """Model-resolution ab ``(2, S, S)`` resized to the crop and joined with its true L, as uint8 RGB."""
    height, width = image.lab.shape[-2:]
    return compose(image, resize_channels(ab, height, width))


def own_colors(model: torch.nn.Module, image: EvalImage) -> torch.Tensor:
    """The image's own 3-bit colours on stage 1's grid ``(1, h, w)``, from its RGB at model resolution."""
    size = model.config.image_size
    return coarse_colors(resize_channels(lab_to_rgb(image.lab), size, size)[None], model.config)


def upgrading_outputs(model: torch.nn.Module, image: EvalImage) -> dict[str, torch.Tensor]:
    """Table I's three images for one test image, uint8 RGB at the crop's size."""
    colors = own_colors(model, image)
    height, width = image.lab.shape[-2:]
    three_bit = dequantize_colors(colors, model.config.color_bits)  # (1, 3, h, w)
    before = F.interpolate(three_bit, size=(height, width), mode="nearest")[0]
    coarse = normalize_ab(rgb_to_lab(three_bit)[:, 1:])
    bicubic = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)[0]
    with torch.no_grad():
        upgraded = model(model_lightness(model, image)[None], coarse_colors=colors).ab[0]
    return {
        "3-bit image, nearest upsampling (before upgrading)": to_uint8(before),
        "3-bit ab, bicubic upsampling, true L (interpolation)": compose(image, bicubic.clamp(-1, 1)),
        "upgrading network, true L (after upgrading)": at_crop(upgraded, image),
    }


def upgrading_scores(model: torch.nn.Module, images: list[EvalImage]) -> dict[str, dict[str, float]]:
    rows: dict[str, list[tuple[float, float]]] = {}
    for image in tqdm(images, desc="upgrading"):
        for name, output in upgrading_outputs(model, image).items():
            rows.setdefault(name, []).append((psnr(output, image.target_rgb), ssim(output, image.target_rgb)))
    return {
        name: {"psnr": statistics.mean(p for p, _ in values), "ssim": statistics.mean(s for _, s in values)}
        for name, values in rows.items()
    }


def sample_outputs(model: torch.nn.Module, image: EvalImage, samples: int, seed: int) -> list[torch.Tensor]:
    """``samples`` colourings of one image (uint8 RGB at the crop's size), drawn with ``seed``."""
    with torch.no_grad():
        ab = model.generate(
            model_lightness(model, image)[None], num_samples=samples, generator=torch.Generator().manual_seed(seed)
        ).ab
    return [at_crop(prediction, image) for prediction in ab]


def mean_pairwise_ab_distance(outputs: list[torch.Tensor]) -> float:
    """Mean over pairs of an image's colourings of the mean per-pixel Euclidean ab distance (CIE units)."""
    ab = [rgb_to_lab(output.float() / 255.0)[1:] for output in outputs]
    distances = [(first - second).norm(dim=0).mean().item() for first, second in itertools.combinations(ab, 2)]
    return statistics.mean(distances) if distances else 0.0


def sampling_scores(
    model: torch.nn.Module, images: list[EvalImage], samples: int, extractor, real_features
) -> dict[str, dict[str, float]]:
    outputs = [sample_outputs(model, image, samples, seed) for seed, image in enumerate(tqdm(images, desc="sampling"))]
    fake = [output for image_outputs in outputs for output in image_outputs]
    greys = [grey_prediction(image) for image in images]
    return {
        "grey": {
            "fd": frechet_distance(extract_features(greys, extractor), real_features),
            "best_psnr": statistics.mean(psnr(grey, image.target_rgb) for grey, image in zip(greys, images)),
            "diversity": 0.0,
            "colorfulness": statistics.mean(colorfulness(grey) for grey in greys),
        },
        "model": {
            "fd": frechet_distance(extract_features(fake, extractor), real_features),
            "best_psnr": statistics.mean(
                max(psnr(output, image.target_rgb) for output in image_outputs)
                for image_outputs, image in zip(outputs, images)
            ),
            "diversity": statistics.mean(mean_pairwise_ab_distance(image_outputs) for image_outputs in outputs),
            "colorfulness": statistics.mean(colorfulness(output) for output in fake),
        },
    }


def likelihood_scores(model: torch.nn.Module, images: list[EvalImage]) -> dict[str, float]:
    """Stage 1's mean bits per pixel of each image's own 3-bit colours on its grid, teacher-forced: the
    autoregressive prediction (P_c) and the auxiliary one from the lightness alone (P~_c)."""
    color, auxiliary = [], []
    for image in tqdm(images, desc="likelihood"):
        with torch.no_grad():
            outputs = model(model_lightness(model, image)[None], color_labels=own_colors(model, image))
        color.append(outputs.color_loss.item() / math.log(2))
        auxiliary.append(outputs.auxiliary_loss.item() / math.log(2))
    return {"bits_per_pixel": statistics.mean(color), "auxiliary_bits_per_pixel": statistics.mean(auxiliary)}


def sampling_cost(model: torch.nn.Module, runs: int = 3) -> dict[str, float]:
    """Model calls and median CPU seconds for one 64x64 sample and its upgrading (batch 1)."""
    pixel_values = torch.zeros(1, 1, model.config.image_size, model.config.image_size)
    timings, calls = [], 0
    with torch.inference_mode():
        for seed in range(runs):
            start = time.perf_counter()
            calls = model.generate(pixel_values, generator=torch.Generator().manual_seed(seed)).model_calls
            timings.append(time.perf_counter() - start)
    return {"model_calls": calls, "seconds_per_sample": statistics.median(timings)}


def sampling_lines(results: dict) -> list[str]:
    """Section 2 and the cost line, when the run sampled."""
    if "sampling" not in results:
        return []
    sampling, cost = results["sampling"], results["cost"]
    return [
        f"## Both stages, {results['samples']} samples per image",
        "",
        markdown_table(
            {name.replace("model", results["model"]): row for name, row in sampling.items()},
            ["fd", "best_psnr", "diversity", "colorfulness"],
            [
                f"Fréchet distance ({results['features']})",
                f"best-of-{results['samples']} PSNR (dB)",
                "diversity (mean pairwise ab distance)",
                "colourfulness",
            ],
        ),
        "",
        f"Colourfulness of the ground truth: {results['ground_truth_colorfulness']:.2f}.",
        "",
        f"Sampling cost: {cost['model_calls']} model calls and {cost['seconds_per_sample']:.2f} s per "
        f"{results['coarse_size']}x{results['coarse_size']} sample "
        f"with its upgrading to {results['image_size']}x{results['image_size']} ({cost['cpu']}, 2 threads, fp32, "
        "batch 1).",
        "",
    ]


def markdown(results: dict) -> str:
    likelihood = results["likelihood"]
    lines = [
        f"# Cartoon colorization: `{results['model']}` on `{FOLDER}` ({results['count']} images)",
        "",
        results["protocol"],
        "",
        "## The upgrading network alone, fed each image's own 3-bit colours (paper 003, Table I)",
        "",
        markdown_table(results["upgrading"], ["psnr", "ssim"], ["PSNR (dB)", "SSIM"]),
        "",
        "The paper (512x512 anime faces): before upgrading {1} dB / {0}, interpolation {3} dB / {2}, after "
        "{5} dB / {4} (PSNR / SSIM).".format(*itertools.chain(*PAPER_TABLE_I.values())),
        "",
        *sampling_lines(results),
        "## Stage 1's likelihood of the true 3-bit colours (teacher-forced)",
        "",
        f"{likelihood['bits_per_pixel']:.3f} bits per pixel (autoregressive, P_c), "
        f"{likelihood['auxiliary_bits_per_pixel']:.3f} (auxiliary, from the lightness alone, P~_c); a uniform "
        f"guess over the {2 ** (3 * results['color_bits'])} colours takes {3 * results['color_bits']}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="cartoon-coltran-small", help="bundled model name, folder or Hub id")
    parser.add_argument("--samples", type=int, default=8, help="colourings per test image (0: no sampling)")
    parser.add_argument("--every", type=int, default=1, help="score every Nth test picture only (quick comparisons)")
    parser.add_argument("--features", help="TorchScript feature extractor (e.g. Inception-v3) for the real FID")
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--output", default=str(RESULTS / "cartoon"), help="output path without extension")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model, name = load_model(args.model, "cartoon_coltran")
    extractor = torchscript_features(args.features) if args.features else colour_statistics_features
    features = f"FID, `{Path(args.features).name}` features" if args.features else f"FCD: {COLOUR_FEATURES_NAME}"
    paths = sorted(path for path in (Path(args.corpus) / FOLDER).iterdir() if path.is_file())[:: args.every]
    images = [load_eval_image(path) for path in paths]
    real_features = extract_features([image.target_rgb for image in images], extractor)
    results = {
        "protocol": (
            "Each test image's shorter side resized to 256 (bicubic), centre 224 crop, resized to the model's "
            f"{model.config.image_size}x{model.config.image_size} and its ab resized back; the output's L is the true "
            "L (except the 3-bit image itself). Samples of image i are drawn with seed i."
        ),
        "model": name,
        "count": len(images),
        "samples": args.samples,
        "features": features,
        "image_size": model.config.image_size,
        "coarse_size": model.config.coarse_size,
        "color_bits": model.config.color_bits,
        "ground_truth_colorfulness": statistics.mean(colorfulness(image.target_rgb) for image in images),
        "upgrading": upgrading_scores(model, images),
        "likelihood": likelihood_scores(model, images),
    }
    if args.samples:
        results["sampling"] = sampling_scores(model, images, args.samples, extractor, real_features)
        results["cost"] = {**sampling_cost(model), "cpu": cpu_name()}
    write_results(args.output, results, markdown(results))
    write_card_tables(args.output, name, markdown(results))


if __name__ == "__main__":
    main()
