"""Issue 32's quality targets against the latest benchmark results: which hold, for which bundled model, by how much.

    python benchmarks/targets.py [--results benchmarks/results]

Runs no model: it reads what the benchmark scripts last wrote in ``--results`` (``quality.json`` from
``evaluate_quality.py``, ``recognisability.json`` from ``recognisability.py``, ``exemplar.json`` from
``evaluate_exemplar.py``, ``cartoon.json`` from ``evaluate_cartoon.py``), so re-run those after a model changes.
Writes ``targets.{json,md}`` there. Every model found in those results is checked against its family's targets, so
the table also tells which bundled model comes closest. Two targets are judged by eye in the gallery
(``gallery.py``), not here: the hint model's background hint on the orange, and the exemplar model's tiger.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from evaluate_quality import BASELINES, RESULTS
from recognisability import TEST_SETS

from hf_colorize.evaluation.report import write_results

PHOTOS, ILLUSTRATIONS = TEST_SETS
NOT_MODELS = {*BASELINES, "ground truth"}
"""The entries of a folder's quality scores that are no model: the baselines and the truth's colourfulness."""
UNIT_FORMATS = {"dB": ".2f", "%": ".1f", "": ".3g"}
NOTE = (
    "Each bundled model found in the benchmark results (`quality.json`, `recognisability.json`, `exemplar.json`, "
    "`cartoon.json`) against its family's targets, written by `benchmarks/targets.py`. Judged by eye in the gallery "
    "and not here: the hint model's background hint on the orange, and the grey tiger taking the reference tiger's "
    "orange."
)


@dataclass(frozen=True)
class Check:
    """One target on one folder for one model: the measured figure, the bound it must reach, and whether it does."""

    family: str
    target: str
    folder: str
    model: str
    measured: float
    bound: float
    unit: str
    at_least: bool = True

    @property
    def met(self) -> bool:
        return self.measured >= self.bound if self.at_least else self.measured <= self.bound


def _models(scores: dict, hint_models: bool) -> list[str]:
    """The models (not the baselines) in one folder's quality scores that take hints (scored at k > 0) or not."""
    return [name for name, by_count in scores.items() if name not in NOT_MODELS and ("1" in by_count) == hint_models]


def automatic_checks(quality: dict, recognisability: dict) -> Iterator[Check]:
    """PSNR over grey (+1.5 dB photos, +1.0 illustrations), colourfulness 70-120 % of the truth's, at most 10 % of
    the pictures more than 1 dB below grey, recognisability at least grey's + 3 points."""
    family = "automatic"
    for folder in TEST_SETS:
        scores = quality["folders"][folder]
        grey, truth = scores["grey"]["0"], scores["ground truth"]
        for model in _models(scores, hint_models=False):
            at_zero = scores[model]["0"]
            margin = 1.5 if folder == PHOTOS else 1.0
            yield Check(
                family, f"PSNR >= grey + {margin} dB", folder, model, at_zero["psnr"], grey["psnr"] + margin, "dB"
            )
            share = 100 * at_zero["colorfulness"] / truth["colorfulness"]
            yield Check(family, "colourfulness >= 70 % of the truth's", folder, model, share, 70.0, "%")
            yield Check(
                family, "colourfulness <= 120 % of the truth's", folder, model, share, 120.0, "%", at_least=False
            )
            far_below = 100 * scores[model]["vs_grey"]["0"]["share_far_below"]
            yield Check(
                family, "<= 10 % of pictures > 1 dB below grey", folder, model, far_below, 10.0, "%", at_least=False
            )
            agreement = recognisability["test_sets"][folder]
            if model in agreement:
                yield Check(
                    family,
                    "recognisability >= grey + 3 points",
                    folder,
                    model,
                    100 * agreement[model],
                    100 * agreement["grey"] + 3.0,
                    "%",
                )


def hint_checks(quality: dict) -> Iterator[Check]:
    """PSNR@10 at least Levin@10 + 1 dB; at k = 1 on photos at most 10 % more than 0.5 dB below grey and none more than
    5 dB below; at k = 0 at least grey + 0.5 dB with 60 % of the truth's colourfulness."""
    family = "hints"
    for folder in TEST_SETS:
        scores = quality["folders"][folder]
        grey, truth, levin = scores["grey"]["0"], scores["ground truth"], scores["levin"]["10"]["psnr"]
        for model in _models(scores, hint_models=True):
            by_count = scores[model]
            yield Check(
                family, "PSNR@10 >= Levin@10 + 1.0 dB", folder, model, by_count["10"]["psnr"], levin + 1.0, "dB"
            )
            if folder == PHOTOS:
                one_hint = by_count["vs_grey"]["1"]
                yield Check(
                    family,
                    "k=1: <= 10 % of photos > 0.5 dB below grey",
                    folder,
                    model,
                    100 * one_hint["share_below"],
                    10.0,
                    "%",
                    at_least=False,
                )
                yield Check(family, "k=1: no photo > 5 dB below grey", folder, model, one_hint["worst"], -5.0, "dB")
            yield Check(
                family, "k=0: PSNR >= grey + 0.5 dB", folder, model, by_count["0"]["psnr"], grey["psnr"] + 0.5, "dB"
            )
            share = 100 * by_count["0"]["colorfulness"] / truth["colorfulness"]
            yield Check(family, "k=0: colourfulness >= 60 % of the truth's", folder, model, share, 60.0, "%")


def exemplar_checks(exemplar: dict) -> Iterator[Check]:
    """With the true picture mirrored and cropped as reference: PSNR at least Reinhard's + 1 dB, SSIM at least
    Reinhard's."""
    for folder in TEST_SETS:
        scores = exemplar["folders"][folder]["mirrored_reference"]
        reinhard = next(value for name, value in scores.items() if name.startswith("Reinhard"))
        for model, measured in scores.items():
            if model == "grey" or model.startswith("Reinhard"):
                continue
            yield Check(
                "exemplar", "PSNR >= Reinhard + 1.0 dB", folder, model, measured["psnr"], reinhard["psnr"] + 1.0, "dB"
            )
            yield Check("exemplar", "SSIM >= Reinhard's", folder, model, measured["ssim"], reinhard["ssim"], "")


def cartoon_checks(cartoon: dict) -> Iterator[Check]:
    """Colourfulness 70 % of the truth's, diversity 10, best-of-N PSNR at least grey + 1 dB, on the illustrations."""
    sampling, model = cartoon["sampling"], cartoon["model"]
    share = 100 * sampling["model"]["colorfulness"] / cartoon["ground_truth_colorfulness"]
    best_of = f"best-of-{cartoon['samples']} PSNR >= grey + 1 dB"
    yield Check("cartoon", "colourfulness >= 70 % of the truth's", ILLUSTRATIONS, model, share, 70.0, "%")
    yield Check("cartoon", "diversity >= 10", ILLUSTRATIONS, model, sampling["model"]["diversity"], 10.0, "")
    best, grey = sampling["model"]["best_psnr"], sampling["grey"]["best_psnr"]
    yield Check("cartoon", best_of, ILLUSTRATIONS, model, best, grey + 1.0, "dB")


def load_results(results: Path, name: str) -> dict:
    """``results/NAME.json``, or an exit naming the missing file."""
    path = results / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run the benchmark that writes it first (see this script's docstring)")
    return json.loads(path.read_text())


def all_checks(results: Path) -> list[Check]:
    """Every family's checks on the benchmark results in the folder ``results``."""
    quality, recognisability, exemplar, cartoon = (
        load_results(results, name) for name in ("quality", "recognisability", "exemplar", "cartoon")
    )
    return [
        *automatic_checks(quality, recognisability),
        *hint_checks(quality),
        *exemplar_checks(exemplar),
        *cartoon_checks(cartoon),
    ]


def _figure(value: float, unit: str) -> str:
    return f"{value:{UNIT_FORMATS[unit]}} {unit}".strip()


def _cell(check: Check | None) -> str:
    """A table cell: the figure, its bound and the verdict, or ``-`` where the model has no such check."""
    if check is None:
        return "-"
    verdict = "**met**" if check.met else "not met"
    return f"{_figure(check.measured, check.unit)} (bound {_figure(check.bound, check.unit)}): {verdict}"


def markdown(checks: list[Check]) -> str:
    """One table per family: a row per target and folder, a column per model with its figure and whether it holds."""
    lines = ["# Issue 32's targets, as last measured", "", NOTE, ""]
    for family in dict.fromkeys(check.family for check in checks):
        rows = [check for check in checks if check.family == family]
        models = list(dict.fromkeys(check.model for check in rows))
        by_key = {(check.target, check.folder, check.model): check for check in rows}
        lines += [
            f"## {family}",
            "",
            "| target | folder | " + " | ".join(models) + " |",
            "|---|---|" + "---|" * len(models),
        ]
        for target, folder in dict.fromkeys((check.target, check.folder) for check in rows):
            cells = [_cell(by_key.get((target, folder, model))) for model in models]
            lines.append(f"| {target} | {folder} | " + " | ".join(cells) + " |")
        met = sum(check.met for check in rows)
        lines += ["", f"{met} of {len(rows)} checks met.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default=str(RESULTS), help="folder of the benchmarks' JSON results")
    parser.add_argument("--output", default=None, help="output path without extension (default: RESULTS/targets)")
    args = parser.parse_args()
    results = Path(args.results)
    checks = all_checks(results)
    payload = {"checks": [asdict(check) | {"met": check.met} for check in checks]}
    write_results(args.output or results / "targets", payload, markdown(checks))


if __name__ == "__main__":
    main()
