"""``benchmarks/targets.py``: issue 32's targets checked against made-up benchmark results."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from targets import Check, all_checks, main, markdown  # noqa: E402

FOLDERS = ("photos/test", "illustrations/test")


def quality_scores(automatic_psnr: float, hint_worst_at_one: float) -> dict:
    """Quality results of one automatic and one hint model on both folders, grey at 21 dB and Levin@10 at 26 dB."""

    def at(psnr: float, colorfulness: float) -> dict:
        return {"psnr": psnr, "colorfulness": colorfulness}

    folder = {
        "grey": {"0": at(21.0, 0.0)},
        "levin": {"10": at(26.0, 20.0)},
        "ground truth": {"colorfulness": 40.0},
        "auto (bundled)": {"0": at(automatic_psnr, 26.0), "vs_grey": {"0": {"share_far_below": 0.05}}},
        "hints (bundled)": {
            "0": at(21.6, 24.0),
            "1": at(23.0, 30.0),
            "10": at(27.5, 35.0),
            "vs_grey": {"1": {"share_below": 0.2, "worst": hint_worst_at_one}},
        },
    }
    return {"folders": {name: folder for name in FOLDERS}}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    (tmp_path / "quality.json").write_text(json.dumps(quality_scores(22.6, -4.0)))
    agreement = {"grey": 0.60, "auto (bundled)": 0.62}
    (tmp_path / "recognisability.json").write_text(json.dumps({"test_sets": {name: agreement for name in FOLDERS}}))
    mirrored = {
        "grey": {"psnr": 21.0, "ssim": 0.9},
        "Reinhard et al. 2001": {"psnr": 24.0, "ssim": 0.93},
        "exemplar (bundled)": {"psnr": 25.5, "ssim": 0.92},
    }
    exemplar = {"folders": {name: {"mirrored_reference": mirrored} for name in FOLDERS}}
    (tmp_path / "exemplar.json").write_text(json.dumps(exemplar))
    cartoon = {
        "model": "cartoon (bundled)",
        "samples": 8,
        "ground_truth_colorfulness": 50.0,
        "sampling": {"grey": {"best_psnr": 21.0}, "model": {"colorfulness": 40.0, "diversity": 9.0, "best_psnr": 22.5}},
    }
    (tmp_path / "cartoon.json").write_text(json.dumps(cartoon))
    return tmp_path


def verdicts(results: Path) -> dict[tuple[str, str, str], bool]:
    return {(check.model, check.target, check.folder): check.met for check in all_checks(results)}


def test_each_target_is_met_or_not_on_the_right_side_of_its_bound(results: Path):
    met = verdicts(results)
    photos, illustrations = FOLDERS
    # automatic: +1.6 dB over grey, 65 % of the truth's colourfulness, 5 % far below grey, grey's agreement + 2
    assert met[("auto (bundled)", "PSNR >= grey + 1.5 dB", photos)]
    assert met[("auto (bundled)", "PSNR >= grey + 1.0 dB", illustrations)]
    assert not met[("auto (bundled)", "colourfulness >= 70 % of the truth's", photos)]
    assert met[("auto (bundled)", "colourfulness <= 120 % of the truth's", photos)]
    assert met[("auto (bundled)", "<= 10 % of pictures > 1 dB below grey", photos)]
    assert not met[("auto (bundled)", "recognisability >= grey + 3 points", photos)]
    # hints: Levin + 1.5 dB at k = 10; k = 1: a fifth below grey, the worst -4 dB; k = 0: +0.6 dB, 60 % colourful
    assert met[("hints (bundled)", "PSNR@10 >= Levin@10 + 1.0 dB", photos)]
    assert not met[("hints (bundled)", "k=1: <= 10 % of photos > 0.5 dB below grey", photos)]
    assert met[("hints (bundled)", "k=1: no photo > 5 dB below grey", photos)]
    assert ("hints (bundled)", "k=1: no photo > 5 dB below grey", illustrations) not in met  # photos only
    assert met[("hints (bundled)", "k=0: PSNR >= grey + 0.5 dB", photos)]
    assert met[("hints (bundled)", "k=0: colourfulness >= 60 % of the truth's", photos)]
    # exemplar: PSNR Reinhard + 1.5 dB but SSIM below Reinhard's; cartoon: diversity 9 < 10
    assert met[("exemplar (bundled)", "PSNR >= Reinhard + 1.0 dB", photos)]
    assert not met[("exemplar (bundled)", "SSIM >= Reinhard's", photos)]
    assert met[("cartoon (bundled)", "colourfulness >= 70 % of the truth's", illustrations)]
    assert not met[("cartoon (bundled)", "diversity >= 10", illustrations)]
    assert met[("cartoon (bundled)", "best-of-8 PSNR >= grey + 1 dB", illustrations)]


def test_a_model_just_under_a_bound_fails_it(results: Path):
    (results / "quality.json").write_text(json.dumps(quality_scores(22.49, -5.01)))
    met = verdicts(results)
    assert not met[("auto (bundled)", "PSNR >= grey + 1.5 dB", "photos/test")]
    assert not met[("hints (bundled)", "k=1: no photo > 5 dB below grey", "photos/test")]


def test_the_report_counts_the_met_checks_per_family(results: Path, monkeypatch):
    text = markdown(all_checks(results))
    assert "| target | folder | auto (bundled) |" in text
    assert "21.60 dB (bound 21.50 dB): **met**" in text
    monkeypatch.setattr(sys, "argv", ["targets.py", "--results", str(results)])
    main()
    written = json.loads((results / "targets.json").read_text())
    assert len(written["checks"]) == len(all_checks(results))
    assert (results / "targets.md").read_text() == text


def test_a_missing_results_file_names_the_benchmark_to_run(results: Path):
    (results / "cartoon.json").unlink()
    with pytest.raises(SystemExit, match="cartoon.json is missing"):
        all_checks(results)


def test_a_model_without_a_check_gets_a_dash_in_that_row():
    # An automatic model missing from recognisability.json has no recognisability check, while another model has one.
    checks = [
        Check("automatic", "PSNR >= grey + 1.5 dB", "photos/test", "a", 23.0, 22.5, "dB"),
        Check("automatic", "PSNR >= grey + 1.5 dB", "photos/test", "b", 22.0, 22.5, "dB"),
        Check("automatic", "recognisability >= grey + 3 points", "photos/test", "b", 62.0, 63.0, "%"),
    ]
    rows = [line for line in markdown(checks).splitlines() if line.startswith("| PSNR") or line.startswith("| recog")]
    assert rows == [
        "| PSNR >= grey + 1.5 dB | photos/test | 23.00 dB (bound 22.50 dB): **met** "
        "| 22.00 dB (bound 22.50 dB): not met |",
        "| recognisability >= grey + 3 points | photos/test | - | 62.0 % (bound 63.0 %): not met |",
    ]
