"""``benchmarks/oracle_gain.py``: the oracle's per-picture choice and the learned predictor, on made-up scores."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from oracle_gain import folder_rows, oracle_choice, predicted_rows, ranking_auc, summary  # noqa: E402

GAINS = (0.0, 1.0, 2.0)


def picture(over_grey: tuple[float, ...], colour: tuple[float, ...]) -> list[dict]:
    return [{"gain": g, "over_grey": o, "colourfulness": c} for g, o, c in zip(GAINS, over_grey, colour)]


def test_the_oracle_keeps_every_picture_within_1_db_of_grey_and_trades_colour_for_psnr():
    safe = picture((0.0, 2.0, 1.0), (0.0, 20.0, 40.0))  # gain 2 is the most colourful, gain 1 the best PSNR
    risky = picture((0.0, -0.5, -3.0), (0.0, 20.0, 40.0))  # gain 2 falls 3 dB below grey
    colourful = oracle_choice([safe, risky], psnr_weight=0.0)
    assert [row["gain"] for row in colourful] == [2.0, 1.0]
    accurate = oracle_choice([safe, risky], psnr_weight=1000.0)
    assert [row["gain"] for row in accurate] == [1.0, 0.0]
    scores = summary(colourful, truth=40.0)
    assert scores["share_below"] == 0 and scores["colourfulness_share"] == pytest.approx(0.75)
    assert scores["over_grey"] == pytest.approx(0.25)


def test_ranking_auc_is_one_for_a_perfect_ranking_and_a_half_for_ties():
    positive = torch.tensor([True, False, True, False])
    assert ranking_auc(torch.tensor([3.0, 1.0, 4.0, 0.0]), positive) == 1.0
    assert ranking_auc(torch.tensor([0.0, 1.0, 0.0, 4.0]), positive) == 0.0
    assert ranking_auc(torch.zeros(4), positive) == 0.5


def test_a_feature_that_tells_the_risk_lets_the_predictor_follow_the_oracle():
    # Pictures whose feature is 1 fall 3 dB below grey at gain 1; the others gain 2 dB at gain 2.
    good = picture((0.0, 1.0, 2.0), (0.0, 20.0, 40.0))
    bad = picture((0.0, -3.0, -6.0), (0.0, 20.0, 40.0))
    table = [good, bad] * 2000  # enough pictures that the ridge penalty barely shrinks the fit
    noise = 0.01 * torch.randn(4000, 1, generator=torch.Generator().manual_seed(0))
    features = torch.tensor([[0.0], [1.0]] * 2000) + noise
    folder = {"table": table, "features": features, "truth": 40.0}
    scores, auc = predicted_rows(folder, folder, GAINS, weight=10.0)
    assert scores["share_below"] == 0 and scores["share_grey"] == 0.5 and scores["colourfulness_share"] == 0.5
    assert auc == 1.0


def test_the_judges_confidence_is_ranked_against_the_pictures_below_grey():
    good = picture((0.0, 1.0, 2.0), (0.0, 20.0, 40.0))
    bad = picture((0.0, -3.0, -6.0), (0.0, 20.0, 40.0))
    folder = {"table": [good, bad, good, bad], "features": torch.zeros(4, 1), "truth": 40.0}
    folder["judge_confidence"] = torch.tensor([0.9, 0.2, 0.8, 0.3])  # unsure where gain 1 falls below grey
    assert folder_rows(folder, GAINS, fit=None, fit_weight=10.0)["judge_auc"] == 1.0
    folder["judge_confidence"] = torch.tensor([0.2, 0.9, 0.3, 0.8])
    assert folder_rows(folder, GAINS, fit=None, fit_weight=10.0)["judge_auc"] == 0.0
