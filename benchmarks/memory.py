"""Peak memory of colorizing one large image with ``hf-colorize``, against its size in megapixels (issue 21).

    python benchmarks/memory.py [--megapixels 1 4 16 36 64] [--model dlsa-tiny]
                                [--output benchmarks/results/memory]

For each size a grey square PNG of that many pixels (the bundled example photo resized, so the model paints
colours, some out of the sRGB gamut) is colorized by ``hf-colorize IMAGE -o OUT.png`` in a fresh Python process, after
a first call on a 64x64 image has loaded the model and run it once. The process reports its peak resident memory
(``ru_maxrss``) after that first call (the model's own: Python, torch, the model, one colorization) and after the
large image; the difference is what the image costs. Writes ``OUTPUT.json`` and ``OUTPUT.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from model_costs import RESULTS, cpu_name
from PIL import Image

from hf_colorize.evaluation.report import write_results

EXAMPLE = Path(__file__).parents[1] / "examples" / "images" / "fruits-grey.jpg"
MEGABYTE = 2**20


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (``ru_maxrss`` is in kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def measure(image: str, model: str, folder: str) -> dict[str, float]:
    """Run in the child process: the peak memory after a small call and after colorizing ``image``."""
    from hf_colorize.cli import main

    small = Path(folder) / "small.png"
    Image.open(EXAMPLE).convert("L").resize((64, 64)).save(small)
    if main([str(small), "-o", str(Path(folder) / "small-out.png"), "--model", model]) != 0:
        raise SystemExit("the small call failed")
    model_peak = peak_rss_bytes()
    start = time.perf_counter()
    if main([image, "-o", str(Path(folder) / "out.png"), "--model", model]) != 0:
        raise SystemExit(f"colorizing {image} failed")
    seconds = time.perf_counter() - start
    return {"model_peak_mb": model_peak / MEGABYTE, "peak_mb": peak_rss_bytes() / MEGABYTE, "seconds": seconds}


def grey_square(megapixels: float, path: Path) -> tuple[int, int]:
    """A grey PNG of about ``megapixels`` (a square, at most the package's 64-megapixel limit)."""
    side = math.isqrt(round(megapixels * 1e6))
    Image.open(EXAMPLE).convert("L").resize((side, side), Image.Resampling.BILINEAR).save(path, compress_level=1)
    return side, side


def run_size(megapixels: float, model: str) -> dict[str, float]:
    """Colorize a grey square of ``megapixels`` in a fresh process; its memory and time."""
    with tempfile.TemporaryDirectory(prefix="hf-colorize-memory-") as folder:
        width, height = grey_square(megapixels, Path(folder) / "input.png")
        command = [sys.executable, __file__, "--model", model, "--child", str(Path(folder) / "input.png"), folder]
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
        if finished.returncode != 0:
            raise SystemExit(f"{megapixels} MP: the child process failed:\n{finished.stderr}")
        result = json.loads(finished.stdout.strip().splitlines()[-1])
    result.update(width=width, height=height, megapixels=width * height / 1e6)
    result["image_mb"] = result["peak_mb"] - result["model_peak_mb"]
    print(f"{result['megapixels']:.1f} MP: +{result['image_mb']:.0f} MB in {result['seconds']:.1f} s", flush=True)
    return result


def tables(results: dict) -> str:
    lines = [
        "# Peak memory against image size",
        "",
        f"`hf-colorize IMAGE -o OUT.png --model {results['model']}` on a grey PNG, one fresh process per size "
        f"({results['cpu']}, {results['threads']} threads). Peak resident memory after a 64x64 call (the model's "
        "own) and after the large image; the difference is the image's cost.",
        "",
        "| image | megapixels | model's own peak (MB) | peak (MB) | image's cost (MB) | bytes per pixel | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["sizes"]:
        bytes_per_pixel = row["image_mb"] * MEGABYTE / (row["megapixels"] * 1e6)
        lines.append(
            f"| {row['width']}x{row['height']} | {row['megapixels']:.1f} | {row['model_peak_mb']:.0f} | "
            f"{row['peak_mb']:.0f} | {row['image_mb']:.0f} | {bytes_per_pixel:.1f} | {row['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--model", default="dlsa-tiny")
    parser.add_argument("--output", default=str(RESULTS / "memory"))
    parser.add_argument("--child", nargs=2, metavar=("IMAGE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.model, args.child[1])))
        return
    import torch

    sizes = [run_size(megapixels, args.model) for megapixels in args.megapixels]
    results = {"model": args.model, "cpu": cpu_name(), "threads": torch.get_num_threads(), "sizes": sizes}
    write_results(args.output, results, tables(results))


if __name__ == "__main__":
    main()
