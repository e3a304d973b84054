"""The ``hf-colorize`` console script, answered before the package is imported.

``import hf_colorize`` registers every model family with transformers' Auto classes and the pipeline task, which
imports torch and transformers' model code: seconds. This module lives beside the package, not in it, and imports
only the standard library, so ``hf-colorize --help`` (and ``export --help``) and a bad argument are answered at
once; the arguments are parsed here first, and only a command that runs imports :mod:`hf_colorize.cli`.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path


def bundled_model_names() -> list[str]:
    """The names of the models shipped with the package (``hf_colorize.BUNDLED_MODELS``), read from its ``weights``
    folder without importing it."""
    weights = Path(importlib.util.find_spec("hf_colorize").origin).parent / "weights"
    return [folder.name for folder in sorted(weights.iterdir()) if folder.is_dir()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-colorize",
        description="Colorize grey images and videos (files or folders) with an hf_colorize model.",
        epilog="other commands:\n"
        "  hf-colorize export --onnx FILE [--model ID]   export a model to ONNX (export --help)\n"
        "  hf-colorize dataset INPUT -o OUTPUT ...       colorize a dataset (dataset --help)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # "*", checked in parse_arguments: with "+", a misspelt option such as --bogus was reported as a missing INPUT
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="image or video files, or folders (walked)")
    parser.add_argument(
        "-o",
        "--output",
        default="colorized",
        help="output folder, or a file name when there is a single input, whose extension gives the format "
        "(.png, .jpg, .webp, .tif, ...; default: ./colorized, PNG files); videos are written as MP4",
    )
    parser.add_argument(
        "--model",
        help="saved model folder, Hub id, or the name of a bundled model: "
        f"{', '.join(bundled_model_names())} (default: dlsa-tiny)",
    )
    parser.add_argument(
        "--hint",
        action="append",
        default=[],
        metavar="X,Y,#RRGGBB[@FRAME]",
        help="a colour hint at pixel (X, Y) of every input; repeat for more. For a video the hint is given on "
        "frame FRAME (default 0) and carried forward until a scene cut",
    )
    parser.add_argument("--reference", metavar="IMG", help="colour reference picture (exemplar models)")
    parser.add_argument("--samples", type=int, default=1, metavar="N", help="diverse colorizations per input")
    parser.add_argument("--seed", type=int, help="random seed for sampling models")
    parser.add_argument(
        "--no-stabilize",
        dest="stabilize",
        action="store_false",
        help="videos: colorize every frame on its own (no chroma smoothing or scene-cut detection)",
    )
    parser.add_argument(
        "--onnx", metavar="FILE", help="run the model's exported ONNX graph (hf-colorize export) with onnxruntime"
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    return parser


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """The colorize command's arguments; an unknown option, then a missing INPUT, ends the program (exit 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.inputs:
        parser.error("the following arguments are required: INPUT")
    return args


def build_export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-colorize export",
        description="Export a model to ONNX (fp32, free batch size), checked against PyTorch.",
    )
    parser.add_argument("--onnx", required=True, metavar="FILE", help="the ONNX file to write")
    parser.add_argument("--model", help="saved model folder, Hub id, or bundled model name (default: dlsa-tiny)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments (``--help`` and a bad argument end here), then run the command with the package."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["export"]:
        build_export_parser().parse_args(argv[1:])
    elif argv[:1] != ["dataset"]:  # the dataset command's options are parsed with the package
        parse_arguments(argv)
    from hf_colorize.cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
