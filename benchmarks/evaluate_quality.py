"""Quality of point-hint models against the grey, Levin et al. 2004 and hint-propagation baselines.

    python benchmarks/evaluate_quality.py [--model DIR_OR_ID ...] [--corpus ../shared/corpus] [--no_levin]
                                          [--levin_counts 10] [--reuse_scores benchmarks/results/quality.json ...]

The protocol is ``PROTOCOL`` below. Test sets are ``photos/test``, its 21 OpenCV photos alone (the test set of
earlier figures) and ``illustrations/test``. Besides mean scores, the per-image PSNR against grey's at k = 0, 1
and 2 is summarised (mean, 10th percentile, worst, share of images more than 0.5 dB below grey): a hint that
floods shows up there, not in the mean. Writes ``benchmarks/results/quality.{json,md}`` and, per model,
``benchmarks/results/cards/<name>.md``: the tables that go into that model's card. ``--reuse_scores`` takes the
scores of any method found in earlier results files of the same protocol instead of re-running it (Levin alone
takes ~15 minutes at one k), so separate runs (say, the baselines and a new model) can be joined into one table.
"""

from __future__ import annotations

import argparse
import functools
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
    grey_prediction,
    load_eval_image,
)
from hf_colorize.evaluation.levin import levin_colorize
from hf_colorize.evaluation.metrics import psnr
from hf_colorize.evaluation.protocol import compose
from hf_colorize.evaluation.report import METRIC_LABELS, markdown_table, score_outputs
from hf_colorize.models import family_capabilities
from hf_colorize.pipeline import resolve_model
from hf_colorize.propagation import propagate_hints
from hf_colorize.training import training_family

RESULTS = Path(__file__).parent / "results"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
TEST_SETS = {"photos/test": "*", "photos/test (OpenCV 21)": "opencv-*", "illustrations/test": "*"}
"""Label -> file pattern; the folder is the label's first word."""
FOLDERS = tuple(TEST_SETS)
"""The test sets' labels, in report order (see :func:`paths_of_test_set`)."""
BATCH = 8
TABLED_COUNTS = (0, 10)
DISTRIBUTION_COUNTS = (0, 1, 2)
BASELINES = ("grey", "levin", "propagation")
WORSE_THAN_GREY_DB = 0.5
FAR_WORSE_THAN_GREY_DB = 1.0
DISTRIBUTION_LABELS = {
    "mean": "mean",
    "p10": "10th percentile",
    "worst": "worst",
    "share_below": f"share {WORSE_THAN_GREY_DB} dB below",
    "share_far_below": f"share {FAR_WORSE_THAN_GREY_DB} dB below",
}

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


@functools.cache
def bundled_propagation_sigmas() -> tuple[float, float]:
    """The propagation's spatial and range sigmas in the bundled `dlsa-tiny`'s config, read once."""
    config = AutoConfig.from_pretrained(hf_colorize.BUNDLED_MODELS["dlsa-tiny"])
    return config.propagation_spatial_sigma, config.propagation_range_sigma


def propagation(images: list[EvalImage], count: int) -> list[torch.Tensor]:
    """The hints spread by :func:`hf_colorize.propagation.propagate_hints` alone, with the sigmas of the bundled
    `dlsa-tiny`, whose input it is."""
    sigmas = bundled_propagation_sigmas()
    outputs = []
    for image in images:
        hint_ab, hint_mask = image.hints(count)
        ab, _ = propagate_hints(normalize_lightness(image.lab[None, :1]), hint_ab[None], hint_mask[None], *sigmas)
        outputs.append(compose(image, ab[0]))
    return outputs


def takes_hints(model: torch.nn.Module) -> bool:
    return "hints" in family_capabilities(model.config.model_type)


def model_method(model: torch.nn.Module) -> Method:
    """Batched colorization by the model's family's colorizer (its training recipe's): a point-hint model's with k
    hints, an automatic model's from the lightness alone (k ignored)."""
    colorize_batch = training_family(model.config.model_type).colorize

    def colorize(images: list[EvalImage], count: int) -> list[torch.Tensor]:
        outputs = []
        for start in range(0, len(images), BATCH):
            outputs += colorize_batch(model, images[start : start + BATCH], count)
        return outputs

    return colorize


def paths_of_test_set(corpus: Path, label: str) -> list[Path]:
    """The image files of the test set ``label`` of :data:`TEST_SETS` under ``corpus``, sorted."""
    folder = Path(corpus) / label.split()[0]
    return sorted(path for path in folder.glob(TEST_SETS[label]) if path.is_file())


def against_grey(psnrs: Sequence[float], grey_psnrs: Sequence[float]) -> dict[str, float]:
    """The per-image PSNR gain over grey: mean, 10th percentile, worst, and the share of images more than
    :data:`WORSE_THAN_GREY_DB` and :data:`FAR_WORSE_THAN_GREY_DB` below grey."""
    gains = sorted(value - grey for value, grey in zip(psnrs, grey_psnrs))
    return {
        "mean": statistics.mean(gains),
        "p10": gains[int(0.1 * (len(gains) - 1))],
        "worst": gains[0],
        "share_below": sum(gain < -WORSE_THAN_GREY_DB for gain in gains) / len(gains),
        "share_far_below": sum(gain < -FAR_WORSE_THAN_GREY_DB for gain in gains) / len(gains),
    }


def score_method(
    method: Method, images: list[EvalImage], targets: list[torch.Tensor], counts: Sequence[int], label: str
) -> dict[str, dict[str, float]]:
    """``scores[k][metric]`` of one method; for ``k`` in :data:`DISTRIBUTION_COUNTS` also ``per_image_psnr``."""
    scores = {}
    for count in tqdm(counts, desc=label):
        outputs = method(images, count)
        scores[str(count)] = score_outputs(outputs, targets)
        if count in DISTRIBUTION_COUNTS:
            scores[str(count)]["per_image_psnr"] = [psnr(output, target) for output, target in zip(outputs, targets)]
    return scores


def evaluate_folder(
    methods: dict[str, Method],
    paths: list[Path],
    label: str,
    known: dict | None = None,
    counts: dict[str, Sequence[int]] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``scores[method][k][metric]`` on the image files ``paths``, for the ``k`` of ``counts[method]`` (default
    :data:`HINT_COUNTS`), with ``vs_grey[k]`` (:func:`against_grey`) where the per-image PSNR is known; methods
    in ``known`` are not re-run."""
    images = [load_eval_image(path) for path in paths]
    targets = [image.target_rgb for image in images]
    scores = {}
    for name, method in methods.items():
        if known and name in known:
            scores[name] = known[name]
            continue
        method_counts = (counts or {}).get(name, HINT_COUNTS)
        scores[name] = score_method(method, images, targets, method_counts, f"{name} on {label}")
    grey_psnrs = scores["grey"]["0"]["per_image_psnr"]
    for name, method_scores in scores.items():
        vs_grey = {
            k: against_grey(s["per_image_psnr"], grey_psnrs) for k, s in method_scores.items() if "per_image_psnr" in s
        }
        if vs_grey and name != "grey":
            method_scores["vs_grey"] = vs_grey
    scores["ground truth"] = {"colorfulness": statistics.mean(colorfulness(target) for target in targets)}
    return scores


def folder_tables(scores: dict, methods: list[str], tabled: Sequence[int] = TABLED_COUNTS) -> list[str]:
    """The PSNR@k table and, for each ``tabled`` k, the all-metrics table of ``methods`` on one folder; with
    ``tabled = (0,)``, the k = 0 table alone."""
    counts = [str(k) for k in HINT_COUNTS]
    psnr_rows = {name: {k: scores[name][k]["psnr"] for k in counts if k in scores[name]} for name in methods}
    lines = []
    if tabled != (0,):
        lines += ["PSNR (dB) with k hints (-: not run at that k; an automatic model takes none):", ""]
        lines += [markdown_table(psnr_rows, counts, [f"k={k}" for k in counts]), ""]
    for count in tabled:
        rows = {name: scores[name][str(count)] for name in methods if str(count) in scores[name]}
        lines += [f"All metrics at k = {count} (PEV: lower is better):", ""]
        lines += [markdown_table(rows, list(METRIC_LABELS), list(METRIC_LABELS.values())), ""]
    distribution = {
        f"{name}, k={k}": values
        for name in methods
        for k, values in scores[name].get("vs_grey", {}).items()
        if tabled != (0,) or k == "0"
    }
    if distribution:
        lines += [
            f"Per-image PSNR minus grey's (dB): mean, 10th percentile, worst, and the shares of images more than "
            f"{WORSE_THAN_GREY_DB} and {FAR_WORSE_THAN_GREY_DB} dB below grey:",
            "",
            markdown_table(distribution, list(DISTRIBUTION_LABELS), list(DISTRIBUTION_LABELS.values())),
            "",
        ]
    lines += [f"Colourfulness of the ground truth: {scores['ground truth']['colorfulness']:.2f}."]
    return lines


def markdown(results: dict, methods: list[str]) -> str:
    lines = ["# Colorization quality (RGB uint8; higher is better except PEV)", ""]
    lines.append(f"Protocol (`hf_colorize.evaluation.protocol`): {results['protocol']}")
    lines.append(
        "Baselines: grey (ab = 0), Levin, Lischinski & Weiss 2004, and the edge-aware propagation of the "
        "hints that `dlsa-tiny` takes as input (`hf_colorize.propagation`), all with the same hints."
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
    parser.add_argument("--no_levin", action="store_true", help="skip the (slow) Levin et al. baseline")
    parser.add_argument(
        "--levin_counts", type=int, nargs="+", default=[10], help="hint counts k at which Levin runs (~15 min each)"
    )
    parser.add_argument(
        "--reuse_scores",
        metavar="JSON",
        nargs="+",
        default=[],
        help="take the scores of every method found in these results files (same protocol; later files win) instead "
        "of re-running it",
    )
    parser.add_argument("--num_threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.num_threads)
    methods: dict[str, Method] = {"grey": grey}
    if not args.no_levin:
        methods["levin"] = levin
    methods["propagation"] = propagation
    models = {}
    for model in args.model or [name for name in hf_colorize.BUNDLED_MODELS if hint_or_automatic(name)]:
        loaded, name = load_model(model)
        models[name] = loaded
        methods[name] = model_method(loaded)
    counts = {name: [0] for name, model in models.items() if not takes_hints(model)}
    counts["levin"] = args.levin_counts
    results = {"protocol": PROTOCOL, "folders": {}, "counts": {}}
    known = {label: {} for label in FOLDERS}
    for earlier_file in args.reuse_scores:
        earlier = json.loads(Path(earlier_file).read_text())
        if earlier.get("protocol") != results["protocol"]:
            parser.error(f"--reuse_scores {earlier_file}: written under another protocol")
        for label in FOLDERS:
            earlier_scores = earlier["folders"].get(label, {})
            known[label].update({name: earlier_scores[name] for name in methods if name in earlier_scores})
    for label in FOLDERS:
        paths = paths_of_test_set(Path(args.corpus), label)
        with torch.no_grad():
            results["folders"][label] = evaluate_folder(methods, paths, label, known[label], counts)
        results["counts"][label] = len(paths)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(results, list(methods)))
    cards = output.parent / "cards"
    cards.mkdir(exist_ok=True)
    for name in models:
        (cards / f"{name.split(' ')[0]}.md").write_text(card_tables(results, name, counts.get(name) == [0]))
    print(markdown(results, list(methods)))


if __name__ == "__main__":
    main()
