"""Quality of point-hint models against the grey, Levin et al. 2004 and bilateral-propagation baselines.

    python benchmarks/evaluate_quality.py [--model DIR_OR_ID ...] [--corpus ../shared/corpus] [--no_levin]
                                          [--reuse_baselines benchmarks/results/quality.json]

The protocol is ``PROTOCOL`` below. Writes ``benchmarks/results/quality.{json,md}`` and, per model,
``benchmarks/results/cards/<name>.md``: the tables that go into that model's card. ``--reuse_baselines`` takes
the baselines' scores from an earlier results file of the same protocol (Levin alone takes ~15 minutes).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForImageToImage

import hf_colorize
from hf_colorize.color import normalize_lightness
from hf_colorize.evaluation import (
    HINT_COUNTS,
    EvalImage,
    colorfulness,
    colorize_automatic,
    colorize_with_hints,
    grey_prediction,
    load_eval_image,
)
from hf_colorize.evaluation.levin import levin_colorize
from hf_colorize.evaluation.protocol import compose
from hf_colorize.evaluation.report import METRIC_LABELS, markdown_table, score_outputs
from hf_colorize.models import family_capabilities
from hf_colorize.pipeline import resolve_model
from hf_colorize.propagation import propagate_hints

RESULTS = Path(__file__).parent / "results"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FOLDERS = ("photos/test", "illustrations/test")
BATCH = 8
TABLED_COUNTS = (0, 10)
BASELINES = ("grey", "levin", "bilateral propagation")

PROTOCOL = (
    "Each test image's shorter side resized to 256 (bicubic), centre 224 crop; the model sees only the crop's "
    "lightness and k hints (2x2 squares at positions drawn from a generator seeded by the file name, nested "
    "across k, coloured with the true mean ab over the square); the output's L is replaced by the true L; "
    "metrics on RGB uint8: PSNR, SSIM, B-PSNR and PEV (16x16 patches, after paper 000 / iColoriT) and "
    "colourfulness (Hasler & Suesstrunk 2003)."
)

Method = Callable[[list[EvalImage], int], list[torch.Tensor]]


def grey(images: list[EvalImage], count: int) -> list[torch.Tensor]:
    return [grey_prediction(image) for image in images]


def levin(images: list[EvalImage], count: int) -> list[torch.Tensor]:
    return [compose(image, levin_colorize(image.lab[:1], *image.hints(count))) for image in images]


def bilateral_propagation(images: list[EvalImage], count: int) -> list[torch.Tensor]:
    """The hints spread by :func:`hf_colorize.propagation.propagate_hints` alone, with its default sigmas."""
    outputs = []
    for image in images:
        hint_ab, hint_mask = image.hints(count)
        ab, _ = propagate_hints(normalize_lightness(image.lab[None, :1]), hint_ab[None], hint_mask[None])
        outputs.append(compose(image, ab[0]))
    return outputs


def takes_hints(model: torch.nn.Module) -> bool:
    return "hints" in family_capabilities(model.config.model_type)


def model_method(model: torch.nn.Module) -> Method:
    """Batched colorization by a point-hint model with k hints, or by an automatic model (k ignored)."""
    colorize_batch = colorize_with_hints if takes_hints(model) else colorize_automatic

    def colorize(images: list[EvalImage], count: int) -> list[torch.Tensor]:
        outputs = []
        for start in range(0, len(images), BATCH):
            outputs += colorize_batch(model, images[start : start + BATCH], count)
        return outputs

    return colorize


def evaluate_folder(
    methods: dict[str, Method],
    folder: Path,
    known: dict | None = None,
    counts: Sequence[int] = HINT_COUNTS,
    automatic: frozenset[str] = frozenset(),
) -> dict[str, dict[str, dict[str, float]]]:
    """``scores[method][k][metric]`` for each ``k`` of ``counts`` on every image file of ``folder`` (``k = 0``
    alone for the ``automatic`` methods, which take no hints); methods in ``known`` are not re-run."""
    images = [load_eval_image(path) for path in sorted(folder.iterdir()) if path.is_file()]
    targets = [image.target_rgb for image in images]
    scores = {}
    for name, method in methods.items():
        if known and name in known:
            scores[name] = known[name]
            continue
        label = f"{name} on {folder.parent.name}/{folder.name}"
        method_counts = [0] if name in automatic else counts
        scores[name] = {str(k): score_outputs(method(images, k), targets) for k in tqdm(method_counts, desc=label)}
    scores["ground truth"] = {"colorfulness": statistics.mean(colorfulness(target) for target in targets)}
    return scores


def folder_tables(scores: dict, methods: list[str], tabled: Sequence[int] = TABLED_COUNTS) -> list[str]:
    """The PSNR@k table and, for each ``tabled`` k, the all-metrics table of ``methods`` on one folder; with
    ``tabled = (0,)``, the k = 0 table alone."""
    counts = [str(k) for k in HINT_COUNTS]
    psnr_rows = {name: {k: scores[name][k]["psnr"] for k in counts if k in scores[name]} for name in methods}
    lines = []
    if tabled != (0,):
        lines += ["PSNR (dB) with k hints (-: an automatic model, which takes none):", ""]
        lines += [markdown_table(psnr_rows, counts, [f"k={k}" for k in counts]), ""]
    for count in tabled:
        rows = {name: scores[name][str(count)] for name in methods if str(count) in scores[name]}
        lines += [f"All metrics at k = {count} (PEV: lower is better):", ""]
        lines += [markdown_table(rows, list(METRIC_LABELS), list(METRIC_LABELS.values())), ""]
    lines += [f"Colourfulness of the ground truth: {scores['ground truth']['colorfulness']:.2f}."]
    return lines


def markdown(results: dict, methods: list[str]) -> str:
    lines = ["# Colorization quality (RGB uint8; higher is better except PEV)", ""]
    lines.append(f"Protocol (`hf_colorize.evaluation.protocol`): {results['protocol']}")
    lines.append(
        "Baselines: grey (ab = 0), Levin, Lischinski & Weiss 2004, and the lightness-guided bilateral "
        "propagation of the hints that `dlsa-tiny` takes as input (`hf_colorize.propagation`), all with the "
        "same hints."
    )
    for folder, scores in results["folders"].items():
        lines += ["", f"## `{folder}` ({results['counts'][folder]} images)", ""]
        lines += folder_tables(scores, [name for name in methods if name in scores])
    return "\n".join(lines) + "\n"


def card_tables(results: dict, model: str, automatic: bool = False) -> str:
    """The evaluation section of one model's card: its rows next to the baselines (the grey one alone, at k = 0,
    for an ``automatic`` model), per test folder."""
    lines = []
    baselines, tabled = (("grey",), (0,)) if automatic else (BASELINES, TABLED_COUNTS)
    for folder, scores in results["folders"].items():
        lines += [f"### `{folder}` ({results['counts'][folder]} images)", ""]
        lines += folder_tables(scores, [name for name in (*baselines, model) if name in scores], tabled) + [""]
    return "\n".join(lines)


def model_name(path: str) -> str:
    """``<variant> (bundled)`` for a bundled model, else the folder's (or Hub id's) last part."""
    bundled = {folder: name for name, folder in hf_colorize.BUNDLED_MODELS.items()}
    return f"{bundled[path]} (bundled)" if path in bundled else Path(path).name


def load_model(model: str, model_type: str | None = None) -> tuple[torch.nn.Module, str]:
    """A bundled model's name, a folder or a Hub id, loaded for evaluation, and its name in the tables; stops with
    a message naming it when it is not a ``model_type`` model."""
    path = resolve_model(model)
    loaded = AutoModelForImageToImage.from_pretrained(path).eval()
    if model_type and loaded.config.model_type != model_type:
        raise SystemExit(f"--model {model}: a {loaded.config.model_type!r} model, not a {model_type!r} one")
    return loaded, model_name(path)


def hint_or_automatic(model: str) -> bool:
    """Whether a bundled model colours from hints or from nothing (not from a reference, not by sampling)."""
    family = AutoConfig.from_pretrained(resolve_model(model)).model_type
    return family_capabilities(family) <= {"hints"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        action="append",
        help="model folders, Hub ids or bundled model names (default: every bundled hint or automatic model)",
    )
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--output", default=str(RESULTS / "quality"), help="output path without extension")
    parser.add_argument("--no_levin", action="store_true", help="skip the (slow, ~15 min) Levin et al. baseline")
    parser.add_argument(
        "--reuse_baselines",
        metavar="JSON",
        help="take the baselines' scores from an earlier results file of the same protocol instead of re-running",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    methods: dict[str, Method] = {"grey": grey}
    if not args.no_levin:
        methods["levin"] = levin
    methods["bilateral propagation"] = bilateral_propagation
    models = {}
    for model in args.model or [name for name in hf_colorize.BUNDLED_MODELS if hint_or_automatic(name)]:
        loaded, name = load_model(model)
        models[name] = loaded
        methods[name] = model_method(loaded)
    automatic = frozenset(name for name, model in models.items() if not takes_hints(model))
    results = {"protocol": PROTOCOL, "folders": {}, "counts": {}}
    known = {folder: {} for folder in FOLDERS}
    if args.reuse_baselines:
        earlier = json.loads(Path(args.reuse_baselines).read_text())
        if earlier.get("protocol") != results["protocol"]:
            parser.error(f"--reuse_baselines {args.reuse_baselines}: written under another protocol")
        for folder in FOLDERS:
            known[folder] = {
                name: earlier["folders"][folder][name] for name in BASELINES if name in earlier["folders"][folder]
            }
    for folder in FOLDERS:
        path = Path(args.corpus) / folder
        with torch.no_grad():
            results["folders"][folder] = evaluate_folder(methods, path, known[folder], automatic=automatic)
        results["counts"][folder] = sum(1 for p in path.iterdir() if p.is_file())
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(results, list(methods)))
    cards = output.parent / "cards"
    cards.mkdir(exist_ok=True)
    for name in models:
        (cards / f"{name.split(' ')[0]}.md").write_text(card_tables(results, name, name in automatic))
    print(markdown(results, list(methods)))


if __name__ == "__main__":
    main()
