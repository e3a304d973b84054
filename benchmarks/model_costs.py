"""Parameters, GMACs at 224x224 and median CPU latency of the published variants, beside their papers' figures.

    python benchmarks/model_costs.py

GMACs are ``torch.utils.flop_counter.FlopCounterMode`` FLOPs / 2 (the paper's "GFLOPs" count
multiply-accumulates). Latency: batch 1, 2 threads, fp32, median of timed runs after warm-up; it is a
record of this machine, not a test. Writes ``benchmarks/results/model_costs.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForImageToImage

import hf_colorize  # noqa: F401  (registers the families)
from hf_colorize.profiling import count_macs, count_parameters, inference_call

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
VARIANTS = [
    "dlsa-tiny",
    "dlsa-small",
    "dlsa-lite0",
    "smsanet-base",
    "smsanet-small",
    "smsanet-lite0",
    "axial-exemplar-base",
    "axial-exemplar-small",
    "axial-exemplar-lite0",
    "cartoon-coltran-base",
    "cartoon-coltran-small",
]
SAMPLING_RUNS = {"cartoon-coltran-base": (1, 3), "cartoon-coltran-small": (1, 5)}
"""(warm-up, timed) runs of the variants whose one call samples a whole image pixel by pixel (seconds each)."""
PAPER_COSTS = {
    "dlsa-tiny": {"name": "Ours-T", "gflops": 1.01, "ms_gpu": 89},
    "dlsa-small": {"name": "Ours-S", "gflops": 3.47, "ms_gpu": 187},
    "axial-exemplar-base": {"name": "Ours axial att.", "gflops": "-", "ms_gpu": 20},
}
"""Table 1 of the dlsa paper; the smsanet paper reports no costs; the exemplar paper reports 20 ms per image on an
RTX 2080 Ti (Fig. 4) and no operation count."""


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo where there is one, else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def median_latency_ms(model: Callable[..., Any], inputs: dict[str, torch.Tensor], warmup: int, runs: int) -> float:
    with torch.inference_mode():
        for _ in range(warmup):
            model(**inputs)
        timings = []
        for _ in range(runs):
            start = time.perf_counter()
            model(**inputs)
            timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def measure(variant: str, warmup: int, runs: int) -> dict:
    config = AutoConfig.from_pretrained(ROOT / "hub_configs" / variant)
    model = AutoModelForImageToImage.from_config(config).eval()
    inputs = model.dummy_inputs  # one image at the config's resolution (224x224; cartoon: one sample at 256x256)
    warmup, runs = SAMPLING_RUNS.get(variant, (warmup, runs))
    return {
        "parameters": count_parameters(model),
        "gmacs_224": count_macs(inference_call(model), **inputs) / 1e9,
        "cpu_latency_ms": median_latency_ms(inference_call(model), inputs, warmup, runs),
        "paper": PAPER_COSTS.get(variant),
    }


def markdown(results: dict) -> str:
    lines = [
        "# Model costs (batch 1, 224x224; cartoon-coltran: one sample, 64x64 colours upgraded to 256x256)",
        "",
        f"CPU: {results['machine']}, {results['threads']} threads, fp32, median of {results['runs']} runs.",
        "",
        "| variant | parameters | GMACs (measured) | paper GFLOPs | CPU latency ms | paper ms (GPU) |",
        "|---|---|---|---|---|---|",
    ]
    for variant, row in results["variants"].items():
        paper = row["paper"]
        name = f"{variant} ({paper['name']})" if paper else variant
        gflops, milliseconds = (paper["gflops"], paper["ms_gpu"]) if paper else ("-", "-")
        lines.append(
            f"| {name} | {row['parameters'] / 1e6:.2f}M | {row['gmacs_224']:.3f} | "
            f"{gflops} | {row['cpu_latency_ms']:.1f} | {milliseconds} |"
        )
    lines += [
        "",
        "Paper figures: dlsa Table 1, times on an RTX-5000 GPU (ctest10k column); exemplar paper Fig. 4, time on "
        "an RTX 2080 Ti; GPU times are not comparable to CPU times. The smsanet and cartoon papers report no costs. "
        f"The cartoon variants' latencies are medians of {SAMPLING_RUNS['cartoon-coltran-small'][1]} (small) and "
        f"{SAMPLING_RUNS['cartoon-coltran-base'][1]} (base) samples: each is 4,161 sequential model calls.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {
        "machine": cpu_name(),
        "threads": args.threads,
        "runs": args.runs,
        "variants": {variant: measure(variant, args.warmup, args.runs) for variant in VARIANTS},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "model_costs.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "model_costs.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
