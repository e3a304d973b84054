"""``hf-colorize``: colorize images and folders from the command line.

Exit code 0 when every input was colorized, 2 when any input or argument was bad; each bad input gets one
line on stderr naming the file and the problem, nothing is written for it, and the other inputs go on.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .hints import InvalidHintError, parse_hint_string
from .images import InvalidImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
BAD_INPUT = 2


class UsageError(ValueError):
    """A bad argument that stops the whole run."""


def build_parser() -> argparse.ArgumentParser:
    from . import BUNDLED_MODELS

    parser = argparse.ArgumentParser(
        prog="hf-colorize",
        description="Colorize grey images (files or folders) with an hf_colorize model.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (walked)")
    parser.add_argument(
        "-o",
        "--output",
        default="colorized",
        help="output folder, or a file name when there is a single input image (default: ./colorized)",
    )
    parser.add_argument(
        "--model",
        help="saved model folder, Hub id, or the name of a bundled model: "
        f"{', '.join(BUNDLED_MODELS)} (default: dlsa-tiny)",
    )
    parser.add_argument(
        "--hint",
        action="append",
        default=[],
        metavar="X,Y,#RRGGBB",
        help="a colour hint at pixel (X, Y) of every input; repeat for more",
    )
    parser.add_argument("--reference", metavar="IMG", help="colour reference picture (exemplar models)")
    parser.add_argument("--samples", type=int, default=1, metavar="N", help="diverse colorizations per input")
    parser.add_argument("--seed", type=int, help="random seed for sampling models")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    return parser


def iter_images(inputs: list[str]) -> Iterator[tuple[Path, Path]]:
    """``(image path, path relative to its output folder)`` for files and, walked in order, folders."""
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for root, _, files in sorted(os.walk(path)):
                for name in sorted(files):
                    file = Path(root) / name
                    if file.suffix.lower() in IMAGE_SUFFIXES:
                        yield file, file.relative_to(path.parent)
        else:
            yield path, Path(path.name)


def output_path(output: Path, relative: Path, single: bool) -> Path:
    """Where the colorized image goes: ``output`` itself for one input given a file name, else inside it."""
    if single and output.suffix.lower() in IMAGE_SUFFIXES:
        return output
    return output / relative.with_suffix(".png")


def load_pipeline(model: str | None, device: str):
    """The colorization pipeline, with a clear error for a model id that cannot be loaded."""
    import torch
    from transformers.utils import logging

    from .pipeline import load_colorization_pipeline

    logging.set_verbosity_error()
    logging.disable_progress_bar()

    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    try:
        return load_colorization_pipeline(model, device)
    except ValueError as error:
        raise UsageError(f"--model {error}") from None


def check_requirements(model_type: str, call_options: dict) -> None:
    """Stop when the model cannot colorize without an option the call lacks (an exemplar model's reference)."""
    from .models import FAMILY_REQUIREMENTS

    flags = {"reference": "--reference IMG"}
    for request in sorted(FAMILY_REQUIREMENTS.get(model_type, frozenset()) - set(call_options)):
        raise UsageError(f"the {model_type!r} model needs {flags[request]}")


def colorize_all(args: argparse.Namespace) -> int:
    try:
        hints = [parse_hint_string(text) for text in args.hint]
    except InvalidHintError as error:
        raise UsageError(f"--hint: {error}") from None
    if args.samples < 1:
        raise UsageError(f"--samples must be at least 1, got {args.samples}")
    pipe = load_pipeline(args.model, args.device)
    requests = {"hints": hints or None, "reference": args.reference, "num_samples": args.samples}
    call_options = {name: value for name, value in requests.items() if value not in (None, 1)}
    if args.seed is not None:
        call_options["seed"] = args.seed
    try:  # checks the request once; the reference is read here and reused for every input
        preprocess_params, _, _ = pipe._sanitize_parameters(**call_options)
    except InvalidImageError as error:
        raise UsageError(f"--reference {error}") from None
    except ValueError as error:
        raise UsageError(str(error)) from None
    check_requirements(pipe.model.config.model_type, call_options)
    if "reference" in preprocess_params:
        call_options["reference"] = preprocess_params["reference"]

    images = list(iter_images(args.inputs))
    output = Path(args.output)
    status = 0
    for image, relative in images:
        try:
            colorized = pipe(str(image), **call_options)
        except (InvalidImageError, InvalidHintError) as error:
            message = str(error)
            prefix = "" if message.startswith(str(image)) else f"{image}: "
            print(f"hf-colorize: {prefix}{message}", file=sys.stderr)
            status = BAD_INPUT
            continue
        target = output_path(output, relative, single=len(images) == 1)
        target.parent.mkdir(parents=True, exist_ok=True)
        for sample, sample_target in zip(*sample_targets(colorized, target)):
            sample.save(sample_target)
            print(sample_target)
    return status


def sample_targets(colorized, target: Path) -> tuple[list, list[Path]]:
    """The images to write and their paths: ``target`` for one image, ``NAME-1.png`` ... for several samples."""
    if not isinstance(colorized, list):
        return [colorized], [target]
    paths = [target.with_name(f"{target.stem}-{number}{target.suffix}") for number in range(1, len(colorized) + 1)]
    return colorized, paths


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return colorize_all(args)
    except UsageError as error:
        print(f"hf-colorize: {error}", file=sys.stderr)
        return BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
