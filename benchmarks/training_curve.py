"""Validation PSNR over the training stints of one model, read back from the trainer's TensorBoard logs: the curve that
shows whether more steps still help.

    python benchmarks/training_curve.py --stint "note one=runs/a" --stint "note two=runs/b" ...
        [--output benchmarks/results/dlsa_training_curve]

Each ``--stint`` is ``NOTE=OUTPUT_DIR`` of one ``examples/train.py`` run (``--report_to tensorboard``), given in the
order they ran; each stint continues from the weights of the one before. The trainer logs ``validation_psnr`` (the
mean PSNR on ``--validation_images``, with ``--validation_hints`` hints for a hint family) every
``--validation_steps``; this script lists those values with the step within the stint and the steps since the first
stint began. At its end a stint scores its final weights at every hint count on the same images, at its own
training resolution (``eval_results.json``); those are listed per stint. Stints whose recipe changed the model (a new
option) say so in their note. Writes ``OUTPUT.{json,md}``. Needs the ``train`` extra (TensorBoard).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hf_colorize.evaluation.report import write_results

LOG_FOLDER = Path("logs") / "hf_colorize"
TAG = "validation_psnr"
FINAL_SCORES = "eval_results.json"


def stint_argument(text: str) -> tuple[str, Path]:
    """``NOTE=DIR`` as a (note, training output folder) pair."""
    note, separator, folder = text.rpartition("=")
    if not separator or not note or not folder:
        raise argparse.ArgumentTypeError(f"--stint must be NOTE=OUTPUT_DIR, got {text!r}")
    return note, Path(folder)


def read_stint(folder: Path) -> tuple[list[tuple[int, float]], int]:
    """``(step, validation PSNR)`` pairs a training run logged, and the last step it logged any scalar at."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = folder / LOG_FOLDER
    if not logs.is_dir():
        raise SystemExit(f"{folder}: no TensorBoard logs at {logs} (train with --report_to tensorboard)")
    events = EventAccumulator(str(logs))
    events.Reload()
    tags = events.Tags()["scalars"]
    if "loss" not in tags:
        raise SystemExit(f"{logs}: no training loss logged")
    last_step = max(event.step for event in events.Scalars("loss"))
    points = [(event.step, event.value) for event in events.Scalars(TAG)] if TAG in tags else []
    return points, last_step


def curve(stints: list[tuple[str, Path]]) -> list[dict]:
    """One row per logged validation: the stint's note, the step within it and since the first stint began."""
    rows, steps_before = [], 0
    for note, folder in stints:
        points, last_step = read_stint(folder)
        for step, value in points:
            rows.append({"stint": note, "step": step, "total_step": steps_before + step, "validation_psnr": value})
        steps_before += last_step
    return rows


def final_scores(stints: list[tuple[str, Path]]) -> list[dict]:
    """Each stint's ``eval_results.json`` (grey's and the final model's PSNR per hint count), where it wrote one."""
    rows = []
    for note, folder in stints:
        path = folder / FINAL_SCORES
        if path.is_file():
            scores = json.loads(path.read_text())
            rows.append({"stint": note, "grey": scores["grey"], "model": scores["model"]})
    return rows


def markdown(rows: list[dict], finals: list[dict]) -> str:
    lines = [
        "# Validation PSNR over the training stints",
        "",
        "| stint | step in stint | steps in all | validation PSNR (dB) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['stint']} | {r['step']} | {r['total_step']} | {r['validation_psnr']:.2f} |" for r in rows]
    if finals:
        counts = list(finals[0]["model"])
        lines += [
            "",
            "## Each stint's final weights, PSNR (dB) by hint count (at the stint's training resolution)",
            "",
            "| stint | grey | " + " | ".join(f"k={count}" for count in counts) + " |",
            "|---|---|" + "---|" * len(counts),
        ]
        for final in finals:
            grey = next(iter(final["grey"].values()))
            model = " | ".join(f"{final['model'][count]:.2f}" for count in counts)
            lines.append(f"| {final['stint']} | {grey:.2f} | {model} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stint", type=stint_argument, action="append", required=True, help="NOTE=OUTPUT_DIR")
    parser.add_argument("--output", default="benchmarks/results/training_curve")
    args = parser.parse_args()
    rows, finals = curve(args.stint), final_scores(args.stint)
    results = {"stints": [note for note, _ in args.stint], "curve": rows, "final_scores": finals}
    write_results(args.output, results, markdown(rows, finals))


if __name__ == "__main__":
    main()
