"""Video colorization: quality and flicker with and without the temporal stabiliser (issue 10).

    python benchmarks/video.py [--models dlsa-tiny smsanet-small] [--corpus ../shared/corpus] [--clips CLIP ...]
                               [--output benchmarks/results/video]

Each clip of ``video/`` (or each of ``--clips``, such as the shipped ``examples/videos/tree.mp4``; the originals are
in colour) is turned grey (its CIE L with a = b = 0), colorized frame by
frame through the package's ``FrameColorizer`` and compared with the original:
- PSNR: mean over frames of the RGB PSNR (uint8, MAX = 255) of output against original (frames reproduced
  exactly, such as an all-black one, have no finite PSNR and are left out);
- flicker: the mean absolute change of ab between consecutive output frames divided by the same for the original
  clip (1.0 = as steady as the truth; computed at full resolution over all frames);
- frames per second: colorization alone (no decoding or encoding), batch 1, 2 threads.
Settings: "frame by frame" (stabiliser off) and "stabilised" (on, the default). For a hint model a third pair of
rows gives 10 hints (2x2 squares, the true colours, positions from a seeded generator) on the first frame of each
scene the stabiliser's cut detector finds, carried forward. Writes ``OUTPUT.json`` and ``OUTPUT.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from evaluate_quality import CORPUS, RESULTS
from model_costs import cpu_name
from PIL import Image

from hf_colorize.color import lab_to_rgb, rgb_to_lab
from hf_colorize.evaluation import psnr
from hf_colorize.evaluation.report import finite_mean, write_results
from hf_colorize.hints import HINT_SIZE, sample_hint_positions
from hf_colorize.models import family_capabilities
from hf_colorize.pipeline import load_colorization_pipeline
from hf_colorize.video import FrameColorizer, SceneCutDetector, read_frames

HINT_COUNT = 10
SETTINGS = {"frame by frame": False, "stabilised": True}


def to_tensor(frame: np.ndarray | Image.Image) -> torch.Tensor:
    """uint8 RGB ``(3, H, W)``."""
    return torch.from_numpy(np.array(frame)).permute(2, 0, 1)


def ab_of(frame: torch.Tensor) -> torch.Tensor:
    return rgb_to_lab(frame.float() / 255)[1:]


def grey(frame: np.ndarray) -> np.ndarray:
    """The frame's CIE lightness as a grey RGB frame."""
    lightness = rgb_to_lab(torch.from_numpy(frame).permute(2, 0, 1).float() / 255)[:1]
    rgb = lab_to_rgb(torch.cat([lightness, torch.zeros(2, *lightness.shape[-2:])]))
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def hex_color(frame: np.ndarray, row: int, col: int) -> str:
    square = frame[row : row + HINT_SIZE, col : col + HINT_SIZE].reshape(-1, 3).mean(axis=0).round().astype(int)
    return "#" + "".join(f"{value:02x}" for value in square)


def scene_start_hints(clip: Path) -> dict[int, list]:
    """10 true-colour hints on the first frame of every scene the cut detector finds (positions seeded)."""
    detector = SceneCutDetector()
    hints = {}
    for index, frame in enumerate(read_frames(clip)):
        if detector(frame):
            generator = torch.Generator().manual_seed(index)
            positions = sample_hint_positions(HINT_COUNT, frame.shape[0], frame.shape[1], generator)
            hints[index] = [(col, row, hex_color(frame, row, col)) for row, col in positions.tolist()]
    return hints


def measure(colorizer: FrameColorizer, clip: Path) -> dict[str, float]:
    """Mean PSNR, flicker ratio and colorization frames per second of one clip."""
    scores, output_change, original_change = [], [], []
    previous_output = previous_original = None
    seconds = 0.0
    for frame in read_frames(clip):
        grey_frame = grey(frame)
        start = time.perf_counter()
        output = to_tensor(colorizer(grey_frame))
        seconds += time.perf_counter() - start
        original = to_tensor(frame)
        scores.append(psnr(output, original))
        output_ab, original_ab = ab_of(output), ab_of(original)
        if previous_output is not None:
            output_change.append((output_ab - previous_output).abs().mean().item())
            original_change.append((original_ab - previous_original).abs().mean().item())
        previous_output, previous_original = output_ab, original_ab
    return {
        "psnr": finite_mean(scores),  # an exact frame (all black) has no PSNR
        "flicker": statistics.mean(output_change) / statistics.mean(original_change),
        "fps": len(scores) / seconds,
        "frames": len(scores),
        "scene_cuts": colorizer.scene_cuts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["dlsa-tiny", "smsanet-small"])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--clips", type=Path, nargs="+", help="these clips instead of the corpus's video/*.avi")
    parser.add_argument("--output", type=Path, default=RESULTS / "video")
    args = parser.parse_args()
    torch.set_num_threads(2)
    clips = args.clips or sorted((args.corpus / "video").glob("*.avi"))
    if not clips:
        raise SystemExit(f"no .avi clips in {args.corpus / 'video'}")

    results = {"cpu": cpu_name(), "threads": 2, "rows": {}, "load_average": {"before": os.getloadavg()}}
    lines = [
        "# Video colorization: frame by frame vs stabilised",
        "",
        f"Clips ({', '.join(f'`{clip.name}`' for clip in clips)}) turned grey and colorized; "
        f"CPU: {results['cpu']}, 2 threads, batch 1. "
        "Flicker = mean |Δab| between consecutive output frames / the same for the original clip (1.0 = as "
        "steady as the truth). fps = colorization alone (no decoding / encoding). Method: `hf_colorize/video.py`.",
        "",
        "| model | hints | clip | setting | PSNR (dB) | flicker | fps |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in args.models:
        pipe = load_colorization_pipeline(model)
        hint_modes = ["none"]
        if "hints" in family_capabilities(pipe.model.config.model_type):
            hint_modes.append(f"{HINT_COUNT} per scene start")
        for hint_mode in hint_modes:
            for clip in clips:
                hints = scene_start_hints(clip) if hint_mode != "none" else None
                for setting, stabilize in SETTINGS.items():
                    row = measure(FrameColorizer(pipe, hints=hints, stabilize=stabilize), clip)
                    results["rows"][f"{model} | {hint_mode} | {clip.name} | {setting}"] = row
                    print(model, hint_mode, clip.name, setting, row)
                    lines.append(
                        f"| {model} | {hint_mode} | {clip.name} | {setting} | {row['psnr']:.2f} | "
                        f"{row['flicker']:.2f} | {row['fps']:.1f} |"
                    )
    results["load_average"]["after"] = os.getloadavg()
    lines.append(
        f"\nLoad average (1 min): {results['load_average']['before'][0]:.2f} before the run, "
        f"{results['load_average']['after'][0]:.2f} after."
    )
    write_results(args.output, results, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
