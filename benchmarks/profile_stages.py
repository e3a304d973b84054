"""Where one pipeline call spends its time, stage by stage, and the CLI end to end (issue 35).

    python benchmarks/profile_stages.py [--models dlsa-tiny] [--threads 2] [--runs 7]
                                        [--output benchmarks/results/profile_stages]

For each model and each input size (1024x768 and 4000x3000, a photo of ``photos/test`` enlarged, saved as a JPEG of
quality 95), the median wall time of each stage of one call on ``--threads`` threads:
- decode: ``Image.open(file).load()`` of the JPEG (the CLI's first step; the pipeline benchmarks start after it);
- lightness: the decoded picture reduced to its full-resolution CIE L (``images.load_lightness``);
- resize to the model: that L resized to the model's resolution and scaled (``model_lightness``);
- model: the model call alone on the prepared inputs;
- ab upsampling: the predicted ab resized to the picture's width, as ``join_lightness`` does (its rows are enlarged
  inside the next stage's loop);
- Lab to RGB: ``color_kernels.lab_to_srgb8``, the compiled loop that enlarges the ab rows and converts every pixel
  to 8-bit sRGB, written into the output image's own memory (``pil_memory.pixel_view``);
- to PIL: the output PIL image made and its memory reached (``Image.new`` unfilled, then ``pixel_view``);
- encode: the output written as PNG (``images.save_image``), as the CLI writes it;
and the whole pipeline call on the decoded picture. Then the CLI end to end: ``hf-colorize IN.png -o OUT.png`` on a
1024x768 grey PNG, from process start to the written file, against ``python -c "import transformers"`` (which
imports neither torch nor any model code), the modules any transformers model and pipeline needs (torch,
``transformers.modeling_utils``, ``transformers.pipelines``) and ``python -c "import hf_colorize"`` (fresh processes,
median of ``--runs``). Writes ``OUTPUT.json`` and ``OUTPUT.md``
with the load average (``os.getloadavg``) before and after.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from model_costs import RESULTS, cpu_name
from PIL import Image
from speed import median_seconds, request, test_images

from hf_colorize.color_kernels import lab_to_srgb8
from hf_colorize.image_processing import ab_columns, join_lightness
from hf_colorize.images import load_lightness, save_image
from hf_colorize.pil_memory import pixel_view
from hf_colorize.pipeline import load_colorization_pipeline

SIZES = {"1024x768": (1024, 768), "4000x3000": (4000, 3000)}
STAGES = ("decode", "lightness", "resize to model", "model", "ab upsampling", "Lab to RGB", "to PIL", "encode")
TRANSFORMERS_MODEL_STACK = "import torch, transformers.modeling_utils, transformers.pipelines"
CLI = Path(sys.executable).with_name("hf-colorize")


def profile(pipe, size: tuple[int, int], runs: int, folder: Path) -> dict[str, float]:
    """Median milliseconds of each stage, and of the whole call, for one picture of ``size``."""
    image = test_images(size, 1)[0]
    jpeg = folder / "input.jpg"
    image.save(jpeg, quality=95)
    options = request(pipe, [image])
    processor = pipe.image_processor
    lightness = load_lightness(image)
    inputs = pipe.preprocess(image, **options)
    inputs.pop("lightness")
    with torch.inference_mode():
        ab = pipe.model(**inputs).ab[0].float()
    output = join_lightness(ab, lightness)
    height, width = lightness.shape[-2:]
    columns, plane = ab_columns(ab, height, width), lightness[0].numpy()
    pixels = pixel_view(output)
    seconds = {
        "decode": median_seconds(lambda: Image.open(jpeg).load(), runs),
        "lightness": median_seconds(lambda: load_lightness(image), runs),
        "resize to model": median_seconds(lambda: processor.model_lightness(lightness), runs),
        "ab upsampling": median_seconds(lambda: ab_columns(ab, height, width), runs),
        "Lab to RGB": median_seconds(lambda: lab_to_srgb8(plane, columns, out=pixels), runs),
        "to PIL": median_seconds(lambda: pixel_view(Image.new("RGB", (width, height), None)), runs),
        "encode": median_seconds(lambda: save_image(output, folder / "output.png"), runs),
        "pipeline call": median_seconds(lambda: pipe(image, **options), runs),
    }
    with torch.inference_mode():
        seconds["model"] = median_seconds(lambda: pipe.model(**inputs), runs)
    return {name: 1000 * value for name, value in seconds.items()}


def process_seconds(command: list[str], runs: int) -> float:
    """Median wall time of a fresh process running ``command``."""

    def run() -> None:
        subprocess.run(command, check=True, capture_output=True)

    return median_seconds(run, runs, warmup=1)


def cli_end_to_end(runs: int, folder: Path) -> dict[str, float]:
    """Seconds from process start to the written file for ``hf-colorize`` on a 1024x768 grey PNG, and the imports."""
    picture = folder / "grey.png"
    test_images((1024, 768), 1)[0].convert("L").save(picture)
    python = [sys.executable, "-c"]
    return {
        "import_transformers_s": process_seconds([*python, "import transformers"], runs),
        "import_model_stack_s": process_seconds([*python, TRANSFORMERS_MODEL_STACK], runs),
        "import_hf_colorize_s": process_seconds([*python, "import hf_colorize"], runs),
        "cli_s": process_seconds([str(CLI), str(picture), "-o", str(folder / "cli-output.png")], runs),
    }


def markdown(results: dict) -> str:
    cli = results["cli"]
    load = results["load_average"]
    lines = [
        "# One pipeline call, stage by stage",
        "",
        f"CPU: {results['cpu']}, {results['threads']} threads, eager fp32, batch 1; median ms of {results['runs']} "
        f"runs; a photo of `photos/test` enlarged. Load average (1 min) {load['before'][0]:.2f} before the run, "
        f"{load['after'][0]:.2f} after. *ab upsampling* resizes the predicted ab to the picture's width; *Lab to RGB* "
        "is the compiled loop that enlarges its rows and converts every pixel, writing the output image's own memory; "
        "*to PIL* makes that image; *pipeline call* is the whole call on the decoded picture (decode and encode are "
        "the CLI's). Method: `benchmarks/profile_stages.py`.",
        "",
        "| model | input | " + " | ".join(STAGES) + " | pipeline call | call / model |",
        "|---|---|" + "---|" * (len(STAGES) + 2),
    ]
    for key, row in results["rows"].items():
        model, size = key.split(" | ")
        stages = " | ".join(f"{row[stage]:.1f}" for stage in STAGES)
        lines.append(
            f"| {model} | {size} | {stages} | {row['pipeline call']:.1f} | {row['pipeline call'] / row['model']:.2f} |"
        )
    import_share = cli["import_hf_colorize_s"] / cli["cli_s"]
    lines += [
        "",
        "## The CLI end to end",
        "",
        f"`hf-colorize IN.png -o OUT.png` on a 1024x768 grey PNG with the default model, from process start to the "
        f'written file: **{cli["cli_s"]:.2f} s**. `python -c "import hf_colorize"` takes '
        f"{cli['import_hf_colorize_s']:.2f} s ({100 * import_share:.0f} % of the CLI's time); "
        f'`python -c "import transformers"` {cli["import_transformers_s"]:.2f} s, but it imports neither torch nor '
        f'any model code; `python -c "{TRANSFORMERS_MODEL_STACK}"`, what any transformers model and pipeline '
        f"loads, {cli['import_model_stack_s']:.2f} s, so the package itself adds "
        f"{cli['import_hf_colorize_s'] - cli['import_model_stack_s']:.2f} s.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    from hf_colorize.evaluation.report import write_results

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["dlsa-tiny"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--output", type=Path, default=RESULTS / "profile_stages")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {"cpu": cpu_name(), "threads": args.threads, "runs": args.runs, "rows": {}}
    results["load_average"] = {"before": os.getloadavg()}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            pipe = load_colorization_pipeline(name)
            for size_name, size in SIZES.items():
                row = profile(pipe, size, args.runs, Path(folder))
                results["rows"][f"{name} | {size_name}"] = row
                print(name, size_name, {stage: round(value, 1) for stage, value in row.items()}, flush=True)
        results["cli"] = cli_end_to_end(args.runs, Path(folder))
    results["load_average"]["after"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - start
    print(results["cli"], results["load_average"])
    write_results(args.output, results, markdown(results))


if __name__ == "__main__":
    main()
