"""``hf-colorize``: colorize images, videos and folders from the command line.

Exit code 0 when every input was colorized, 2 when any input, output or argument was bad; each bad input (or
output that cannot be written, or would replace an input) gets one line on stderr naming the file and the
problem, nothing is written for it, and the other inputs go on.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from hf_colorize_cli import build_export_parser, parse_arguments

from .hints import InvalidHintError, parse_hint_string
from .images import IMAGE_EXTENSIONS, InvalidImageError, OutputWriteError, save_image

VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}
BAD_INPUT = 2
FRAME_NUMBER = re.compile(r"[0-9]+")


class UsageError(ValueError):
    """A bad argument that stops the whole run."""


def export(argv: list[str]) -> int:
    """``hf-colorize export --onnx FILE [--model ID]``."""
    from transformers import AutoModelForImageToImage

    from .export import OnnxExportError, to_onnx
    from .pipeline import UNREADABLE_MODEL_ERRORS, refuse_pickled_weights, resolve_model, unreadable_model

    args = build_export_parser().parse_args(argv)
    try:
        path = resolve_model(args.model)
        refuse_pickled_weights(path)
    except ValueError as error:
        raise UsageError(f"--model {error}") from None
    try:
        model = AutoModelForImageToImage.from_pretrained(path, use_safetensors=True)
    except UNREADABLE_MODEL_ERRORS as error:
        raise UsageError(f"--model {unreadable_model(path, error)}") from None
    try:
        print(to_onnx(model, args.onnx))
    except OnnxExportError as error:
        raise UsageError(str(error)) from None
    return 0


def build_dataset_parser() -> argparse.ArgumentParser:
    from .dataset_colorization import DEFAULT_SHARD_SIZE

    parser = argparse.ArgumentParser(
        prog="hf-colorize dataset",
        description="Colorize a whole dataset into Parquet shards that datasets.load_dataset reads back; under "
        "`accelerate launch --num_processes N` each process takes its own shards, and a job run again does only the "
        "shards not yet complete.",
    )
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="image folder, dataset saved with save_to_disk, or Hub dataset id ORG/NAME (streamed)",
    )
    parser.add_argument("-o", "--output", required=True, help="output folder (the shards go under OUTPUT/data/)")
    parser.add_argument("--model", help="saved model folder, Hub id, or bundled model name (default: dlsa-tiny)")
    parser.add_argument("--image_column", default="image", help="the input's column of images (default: image)")
    parser.add_argument("--split", default="train", help="split of a saved DatasetDict or Hub dataset")
    parser.add_argument("--config_name", help="configuration of a Hub dataset")
    parser.add_argument("--batch_size", type=int, default=8, help="images colorized at once (default: 8)")
    parser.add_argument(
        "--shard_size", type=int, default=DEFAULT_SHARD_SIZE, help=f"rows per shard (default: {DEFAULT_SHARD_SIZE})"
    )
    parser.add_argument("--reference", metavar="IMG", help="colour reference picture (exemplar models)")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: the device accelerate gives the process")
    parser.add_argument("--push_to_hub", action="store_true", help="upload the output as a Hub dataset when done")
    parser.add_argument("--hub_dataset_id", metavar="ORG/NAME", help="the dataset repository to push to")
    parser.add_argument("--hub_token", help="Hub token (default: the logged-in user's)")
    parser.add_argument("--hub_private_repo", action="store_true")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return parser


def colorize_dataset_command(argv: list[str]) -> int:
    """``hf-colorize dataset INPUT -o OUTPUT ...``: 0 when the job is done, also when some images could not be
    colorized (each is named on stderr and in its row's ``error``, and counted in the summary line: a job of many
    processes must not read as failed for them); 2 when the job could not run (one line)."""
    from .dataset_colorization import DatasetColorizationError, colorize_dataset, process_state

    args = build_dataset_parser().parse_args(argv)
    state = process_state(args.device)
    pipe = load_pipeline(args.model, str(args.device or state.device))
    try:
        result = colorize_dataset(
            args.input,
            args.output,
            args.model,
            image_column=args.image_column,
            split=args.split,
            config_name=args.config_name,
            batch_size=args.batch_size,
            shard_size=args.shard_size,
            reference=args.reference,
            device=args.device,
            progress=args.progress,
            push_to_hub=args.push_to_hub,
            hub_dataset_id=args.hub_dataset_id,
            hub_token=args.hub_token,
            hub_private_repo=args.hub_private_repo,
            pipe=pipe,
        )
    except (DatasetColorizationError, OutputWriteError) as error:
        raise UsageError(str(error)) from None
    if state.is_main_process:  # the result counts every process's images
        print(result)
    state.destroy_process_group()  # before exit: a process that leaves its peers' connections open may abort
    return 0


def iter_images(inputs: list[str], output: Path) -> Iterator[tuple[Path, Path]]:
    """``(image path, path relative to the output folder)`` for files and, walked in order, folders.

    A file's relative path is its name; a folder's files keep their place under the folder's own name (resolved,
    so that ``..`` is named, and no relative path leaves the output folder). The output folder is not walked.
    """
    skip = output.resolve()
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            base = Path(path.resolve().name)
            for root, folders, files in os.walk(path):
                folders[:] = sorted(name for name in folders if (Path(root) / name).resolve() != skip)
                for name in sorted(files):
                    file = Path(root) / name
                    if file.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_SUFFIXES:
                        yield file, base / file.relative_to(path)
        else:
            yield path, Path(path.name)


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def check_output_name(output: Path, images: list[tuple[Path, Path]]) -> None:
    """Refuse ``-o NAME.EXT`` for a single image when no image format has the extension ``.EXT`` (a folder of that
    name that exists is taken as the output folder)."""
    if len(images) != 1 or is_video(images[0][0]) or not output.suffix or output.is_dir():
        return
    if output.suffix.lower() not in IMAGE_EXTENSIONS:
        formats = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise UsageError(f"-o {output}: {output.suffix!r} is no image format this writes ({formats})")


def output_path(output: Path, relative: Path, single: bool) -> Path:
    """Where the colorized image or video (MP4) goes: ``output`` itself for one input given a file name of the right
    kind (an image in the format of its extension), else inside it (PNG)."""
    suffixes, suffix = (VIDEO_SUFFIXES, ".mp4") if is_video(relative) else (IMAGE_EXTENSIONS, ".png")
    if single and output.suffix.lower() in suffixes:
        return output.with_suffix(suffix) if is_video(relative) else output
    return output / relative.with_suffix(suffix)


def plan_outputs(images: list[tuple[Path, Path]], output: Path, samples: int) -> list[tuple[Path, list[Path]]]:
    """Each input with the files it is written to (:func:`output_path`; ``NAME-1.png`` ... for several samples).

    Inputs that would give the same file (``a.jpg`` and ``a.png`` of one folder) keep their whole name instead:
    ``a.jpg.png`` and ``a.png.png``.
    """
    targets = [output_path(output, relative, single=len(images) == 1) for _, relative in images]
    counts = Counter(targets)
    plan = []
    for (image, relative), target in zip(images, targets):
        if counts[target] > 1:
            target = target.with_name(relative.name + target.suffix)
        plan.append((image, sample_targets(target, samples)))
    return plan


def sample_targets(target: Path, samples: int) -> list[Path]:
    """``target`` for one image, ``NAME-1.png`` ... ``NAME-N.png`` for several samples."""
    if samples == 1:
        return [target]
    return [target.with_name(f"{target.stem}-{number}{target.suffix}") for number in range(1, samples + 1)]


def overwrite_problem(targets: list[Path], inputs: set[Path], written: dict[Path, Path]) -> str | None:
    """Why ``targets`` must not be written: one would replace an input file (``inputs``, resolved) or an output
    this run already wrote (``written``: resolved output -> its input); ``None`` when they may."""
    for target in targets:
        resolved = target.resolve()
        if resolved in inputs:
            return "the output would replace an input file; not written"
        if resolved in written:
            return f"the output would replace the one of {written[resolved]}; not written"
    return None


def report(path: Path, message: str) -> int:
    """One line on stderr naming ``path`` (unless the message already starts with it); returns ``BAD_INPUT``."""
    prefix = "" if message.startswith(str(path)) else f"{path}: "
    print(f"hf-colorize: {prefix}{message}", file=sys.stderr)
    return BAD_INPUT


def parse_video_hints(texts: list[str]) -> tuple[list, dict[int, list]]:
    """The hints of ``--hint X,Y,#RRGGBB[@FRAME]``: those for images, and for videos by frame number."""
    images, frames = [], {}
    for text in texts:
        hint_text, at, frame_text = text.partition("@")
        hint = parse_hint_string(hint_text)
        frame = 0
        if at:
            if not FRAME_NUMBER.fullmatch(frame_text):  # str.isdigit would take "²", which int() refuses
                raise InvalidHintError(f"malformed hint {text!r}: FRAME after @ must be a frame number")
            frame = int(frame_text)
        else:
            images.append(hint)
        frames.setdefault(frame, []).append(hint)
    return images, frames


def load_pipeline(model: str | None, device: str, onnx: str | None = None):
    """The colorization pipeline, with a clear error for a model id that cannot be loaded."""
    import torch
    from transformers.utils import logging

    from .pipeline import load_colorization_pipeline

    logging.set_verbosity_error()
    logging.disable_progress_bar()

    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    try:
        pipe = load_colorization_pipeline(model, device)
    except ValueError as error:
        raise UsageError(f"--model {error}") from None
    if onnx is not None:
        try:
            pipe.use_onnx(onnx)
        except ValueError as error:
            raise UsageError(f"--onnx {error}") from None
    return pipe


def check_requirements(model_type: str, call_options: dict) -> None:
    """Stop when the model cannot colorize without an option the call lacks (an exemplar model's reference)."""
    from .models import family_requirements

    flags = {"reference": "--reference IMG"}
    for request in sorted(family_requirements(model_type) - set(call_options)):
        raise UsageError(f"the {model_type!r} model needs {flags[request]}")


def colorize_all(args: argparse.Namespace) -> int:
    try:
        hints, video_hints = parse_video_hints(args.hint)
    except InvalidHintError as error:
        raise UsageError(f"--hint: {error}") from None
    if args.samples < 1:
        raise UsageError(f"--samples must be at least 1, got {args.samples}")
    output = Path(args.output)
    images = list(iter_images(args.inputs, output))
    check_output_name(output, images)
    pipe = load_pipeline(args.model, args.device, args.onnx)
    requests = {"hints": hints or None, "reference": args.reference, "num_samples": args.samples}
    call_options = {name: value for name, value in requests.items() if value not in (None, 1)}
    if args.seed is not None:
        call_options["seed"] = args.seed
    try:  # checks the request once; the reference is read here and reused for every input
        preprocess_params, _ = pipe.check_options(**call_options)
    except InvalidImageError as error:
        raise UsageError(f"--reference {error}") from None
    except ValueError as error:
        raise UsageError(str(error)) from None
    check_requirements(pipe.model.config.model_type, call_options)
    if video_hints:  # hints given only for video frames are checked here too
        from .pipeline import check_request

        try:
            check_request(pipe.model.config.model_type, {"hints"})
        except ValueError as error:
            raise UsageError(str(error)) from None
    if "reference" in preprocess_params:
        call_options["reference"] = preprocess_params["reference"]

    if args.samples > 1 and any(is_video(image) for image, _ in images):
        raise UsageError("--samples is for images; a video gets one colorization")
    inputs = {image.resolve() for image, _ in images} | ({Path(args.reference).resolve()} if args.reference else set())
    written: dict[Path, Path] = {}
    status = 0
    for image, targets in plan_outputs(images, output, args.samples):
        problem = overwrite_problem(targets, inputs, written)
        if problem is not None:
            status = report(targets[0], problem)
            continue
        written.update((target.resolve(), image) for target in targets)
        if is_video(image):
            status = max(status, colorize_one_video(pipe, image, targets[0], video_hints, call_options, args.stabilize))
            continue
        try:
            colorized = pipe(str(image), **call_options)
        except (InvalidImageError, InvalidHintError) as error:
            status = report(image, str(error))
            continue
        try:
            for sample, target in zip(colorized if isinstance(colorized, list) else [colorized], targets):
                save_image(sample, target)
                print(target)
        except OutputWriteError as error:
            status = report(target, str(error))
    return status


def colorize_one_video(
    pipe, video: Path, target: Path, hints: dict[int, list], call_options: dict, stabilize: bool
) -> int:
    """Colorize one video into ``target``; 0, or ``BAD_INPUT`` with a line on stderr when it cannot be read or
    its output cannot be written."""
    from .video import InvalidVideoError, colorize_video

    try:
        result = colorize_video(
            video,
            target,
            hints=hints or None,
            reference=call_options.get("reference"),
            stabilize=stabilize,
            pipe=pipe,
        )
    except (InvalidVideoError, InvalidHintError) as error:
        return report(video, str(error))
    except OutputWriteError as error:
        return report(target, str(error))
    print(f"{result.output} ({result.frames} frames, {result.frames_per_second:.1f} frames/s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["export"]:
            return export(argv[1:])
        if argv[:1] == ["dataset"]:
            return colorize_dataset_command(argv[1:])
        return colorize_all(parse_arguments(argv))
    except UsageError as error:
        print(f"hf-colorize: {error}", file=sys.stderr)
        return BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
