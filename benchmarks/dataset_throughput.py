"""Images per second of dataset-scale colorization (``hf-colorize dataset``) on 1 and 2 processes, beside the
single-image pipeline, for dlsa-tiny and smsanet-small on 224x224 images.

    python benchmarks/dataset_throughput.py [--images 64] [--corpus ../shared/corpus]

The inputs are centre crops (224x224, JPEG) of the first ``--images`` pictures of ``photos/train``. For each model:

- **pipeline**: ``pipe(path)`` one image at a time, in this process, all cores (``torch.set_num_threads``);
- **model**: the model's forward pass alone on a batch of ``--batch_size`` (no reading, conversion or writing);
- **dataset, 1 process**: ``hf-colorize dataset`` with all cores;
- **dataset, 2 processes**: ``accelerate launch --multi_gpu --num_processes 2`` of it, the cores shared out.

The dataset figures are the command's own (images over the time from the model being loaded to the last shard
written); the ``host`` cost is what an image costs besides the model (decoding, colour conversion at full
resolution, PNG encoding, Parquet), the dataset's time per image less the model's. Each figure is the best of
``--repeats`` runs, and the machine's load average is recorded before and after each model: on a shared machine
(and niced) the figures are depressed by the other work, the best run the least.
Writes ``benchmarks/results/dataset_throughput.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from model_costs import cpu_name
from PIL import Image

import hf_colorize
from hf_colorize.images import image_files

RESULTS = Path(__file__).parent / "results"
MODELS = ["dlsa-tiny", "smsanet-small"]
SIZE = 224
GPU_FLOPS = 10e12
"""The effective rate assumed for a model on a GPU (fp32; a current GPU's peak is 15-60 TFLOP/s, more in bf16)."""
GPU_COUNTS = (1, 8, 64)
SUMMARY = re.compile(r"([\d,]+) images in .*; ([\d.]+) images/s on (\d+) process")


def make_inputs(corpus: Path, count: int, folder: Path) -> list[Path]:
    """Centre crops of ``SIZE`` of the first ``count`` pictures of ``corpus/photos/train``, saved as JPEG."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for source in image_files(corpus / "photos" / "train")[:count]:
        image = Image.open(source).convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        crop = image.resize((SIZE, SIZE), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side))
        paths.append(folder / f"{source.stem}.jpg")
        crop.save(paths[-1], quality=95)
    return paths


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def pipeline_rate(model: str, paths: list[Path]) -> float:
    """Images per second of ``pipe(path)``, one image at a time, after two warm-up calls."""
    pipe = hf_colorize.load_colorization_pipeline(model)
    for path in paths[:2]:
        pipe(str(path))
    start = time.perf_counter()
    for path in paths:
        pipe(str(path))
    return len(paths) / (time.perf_counter() - start)


def model_milliseconds(model: str, paths: list[Path], batch_size: int) -> float:
    """Milliseconds per image of the model's forward pass alone, on a batch of ``batch_size`` of the inputs."""
    pipe = hf_colorize.load_colorization_pipeline(model)
    inputs = pipe.image_processor([str(path) for path in paths[:batch_size]])
    pixel_values = inputs["pixel_values"]
    with torch.inference_mode():
        pipe.model(pixel_values=pixel_values)
        runs, start = 5, time.perf_counter()
        for _ in range(runs):
            pipe.model(pixel_values=pixel_values)
    return (time.perf_counter() - start) / runs / len(pixel_values) * 1000


def dataset_rate(model: str, folder: Path, processes: int, batch_size: int, threads: int, output: Path) -> float | None:
    """Images per second of ``hf-colorize dataset`` on ``processes`` processes of ``threads`` threads each; ``None``
    (and the end of its output, printed) for a run that failed."""
    command = [sys.executable, "-m", "hf_colorize.cli", "dataset", str(folder), "-o", str(output)]
    command += ["--model", model, "--batch_size", str(batch_size), "--shard_size", "16", "--no-progress"]
    if processes > 1:
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes)]
        command = [*launch, "--main_process_port", "0", "-m", *command[2:]]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        print(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    (match,) = SUMMARY.findall(done.stdout)
    return float(match[1])


def measure(model: str, paths: list[Path], folder: Path, batch_size: int, repeats: int, scratch: Path) -> dict:
    """Each figure of ``model``, the best of ``repeats`` runs (in turn, so that a busy spell spoils one of each)."""
    cores = os.cpu_count() or 1
    row = {"load_average_before": load_average()}
    runs = {name: [] for name in ("pipeline", "model", "dataset_1", "dataset_2")}
    for repeat in range(repeats):
        runs["pipeline"].append(pipeline_rate(model, paths))
        runs["model"].append(1000 / model_milliseconds(model, paths, batch_size))
        for processes in (1, 2):
            output = scratch / f"{model}-{processes}-{repeat}"
            threads = max(1, cores // processes)
            runs[f"dataset_{processes}"].append(dataset_rate(model, folder, processes, batch_size, threads, output))
    row["runs_images_per_second"] = runs
    row["pipeline_images_per_second"] = max(runs["pipeline"])
    row["model_ms_per_image"] = 1000 / max(runs["model"])
    for processes in (1, 2):
        rates = [rate for rate in runs[f"dataset_{processes}"] if rate is not None]
        row[f"dataset_{processes}_process_images_per_second"] = max(rates)
    row["host_ms_per_image"] = 1000 / row["dataset_1_process_images_per_second"] - row["model_ms_per_image"]
    row["load_average_after"] = load_average()
    return row


def hours_for_a_million(milliseconds_per_image: float, gpus: int) -> str:
    return f"{1e6 * milliseconds_per_image / 1000 / 3600 / gpus:.1f} h"


def projection_markdown(results: dict, costs: dict) -> str:
    """What the figures imply for 1 M images on N GPUs, one process per GPU: an image costs its process the host time
    measured here plus the model's time on the GPU, from the measured GMACs at :data:`GPU_FLOPS`, or the paper's
    own latency where it gives one."""
    counts = " | ".join(f"{gpus} GPU{'s' if gpus > 1 else ''}" for gpus in GPU_COUNTS)
    lines = [
        f"| model | GMACs | host ms/image | GPU ms/image from GMACs | 1 M images on {counts} | paper GPU ms/image "
        "| 1 M images at the paper's latency, 1 / 8 / 64 GPUs |",
        "|---|---|---|---|" + "---|" * len(GPU_COUNTS) + "---|---|",
    ]
    for model, row in results["models"].items():
        gmacs = costs["variants"][model]["gmacs_224"]
        paper = (costs["variants"][model].get("paper") or {}).get("ms_gpu")
        host, gpu = row["host_ms_per_image"], 2 * gmacs * 1e9 / GPU_FLOPS * 1000
        from_gmacs = " | ".join(hours_for_a_million(host + gpu, gpus) for gpus in GPU_COUNTS)
        at_paper = " / ".join(hours_for_a_million(host + paper, gpus) for gpus in GPU_COUNTS) if paper else "-"
        lines.append(f"| {model} | {gmacs:.2f} | {host:.1f} | {gpu:.2f} | {from_gmacs} | {paper or '-'} | {at_paper} |")
    return "\n".join(lines)


def write_results(results: dict, output: Path) -> None:
    costs = json.loads((RESULTS / "model_costs.json").read_text())
    output.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    header = (
        "| model | pipeline, one image at a time | dataset, 1 process | dataset, 2 processes | model alone "
        "(batch {batch}) | load average before / after |"
    ).format(batch=results["batch_size"])
    rows = [header, "|---|---|---|---|---|---|"]
    for model, row in results["models"].items():
        rows.append(
            f"| {model} | {row['pipeline_images_per_second']:.1f} img/s | "
            f"{row['dataset_1_process_images_per_second']:.1f} img/s | "
            f"{row['dataset_2_process_images_per_second']:.1f} img/s | "
            f"{1000 / row['model_ms_per_image']:.1f} img/s | "
            f"{row['load_average_before']} / {row['load_average_after']} |"
        )
    cores, images, batch = results["cores"], results["images"], results["batch_size"]
    threads = results.get("threads")  # not recorded by the first run
    in_process = f"with {threads} threads" if threads else "(thread count not recorded: torch's default)"
    table = "\n".join(rows)
    text = f"""# Dataset colorization throughput ({images} images of {SIZE}x{SIZE}, batch {batch})

CPU: {cores} cores ({results["machine"]}); `hf-colorize dataset` on 1 process with {cores} threads and on 2
processes (`accelerate launch --multi_gpu --num_processes 2`, gloo) with {max(1, cores // 2)} thread(s) each; the
pipeline and the model alone in one process {in_process}. Each figure is the best of {results["repeats"]} runs.

Conditions: {results["conditions"]}

{table}

## 1 M images on N GPUs

Each process colorizes its own shards with no communication, so N processes (one per GPU, each with its own
cores) take 1/N of the time; here the 2 processes share 2 cores, hence their smaller gain.
An image costs its process the host time measured here (decoding, full-resolution colour conversion, PNG encoding,
Parquet: CPU work next to the GPU; the dataset's time per image on 1 process less the model's) plus the model's time
on the GPU: the GMACs measured in `model_costs.md` (2 FLOPs each) at an assumed effective {GPU_FLOPS / 1e12:.0f}
TFLOP/s, or the paper's own time per image where it gives one (dlsa Table 1, Ours-T, ctest10k column, on an
RTX-5000, batch not stated; the smsanet paper reports no time). These are estimates from CPU figures, not GPU
measurements.

{projection_markdown(results, costs)}
"""
    output.with_suffix(".md").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the best is kept")
    parser.add_argument("--conditions", default="", help="what else ran on the machine, said in the results")
    parser.add_argument("--output", type=Path, default=RESULTS / "dataset_throughput")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)  # the in-process figures on every core, as the 1-process dataset run
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        paths = make_inputs(args.corpus, args.images, scratch / "inputs")
        results = {
            "machine": cpu_name(),
            "cores": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "images": len(paths),
            "batch_size": args.batch_size,
            "conditions": args.conditions,
            "repeats": args.repeats,
            "models": {
                model: measure(model, paths, scratch / "inputs", args.batch_size, args.repeats, scratch)
                for model in MODELS
            },
        }
    write_results(results, args.output)
    print(args.output.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
