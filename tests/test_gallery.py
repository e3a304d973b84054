import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import gallery  # noqa: E402
from gallery import GAP, LABEL_HEIGHT, TITLE_HEIGHT, Case, PointHint, Scenario  # noqa: E402

PANEL = 32
SIZES = {"photos/test/a.png": (48, 40), "photos/test/b.png": (40, 40), "illustrations/test/c.png": (32, 48)}
RED = (200, 30, 30)


@pytest.fixture
def corpus(tmp_path):
    """Three tiny pictures; ``a.png``'s left half is flat ``RED``."""
    rng = np.random.default_rng(0)
    for name, (width, height) in SIZES.items():
        pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        pixels[:, : width // 2] = RED
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(tmp_path / name)
    return tmp_path


SCENARIOS = (
    Scenario(
        "hints",
        "hints",
        "dlsa-tiny",
        (
            Case("photos/test/a.png", (PointHint(6, 20), PointHint(36, 20, "#00ff00"))),
            Case("photos/test/b.png", strokes=(((2, 2), (30, 30)),)),
        ),
    ),
    Scenario("automatic", "automatic", "smsanet-small", (Case("photos/test/b.png"),)),
    Scenario(
        "reference", "reference", "axial-exemplar-small", (Case("photos/test/a.png", reference="photos/test/b.png"),)
    ),
    Scenario("samples", "samples", "cartoon-coltran-small", (Case("illustrations/test/c.png"),), num_samples=3),
)
PANELS = {"hints": 3, "automatic": 3, "reference": 4, "samples": 5}
"""Panels per row: grey input, the reference where there is one, the output(s), the ground truth."""


def expected_size(scenario: Scenario) -> tuple[int, int]:
    """The gallery picture's size: rows of ``PANELS`` panels ``PANEL`` pixels tall under a title."""
    row_widths = []
    for case in scenario.cases:
        width, height = SIZES[case.picture]
        panel_widths = [round(width * PANEL / height)] * PANELS[scenario.name]
        if case.reference:
            reference_width, reference_height = SIZES[case.reference]
            panel_widths[1] = round(reference_width * PANEL / reference_height)
        row_widths.append(sum(panel_widths) + GAP * (len(panel_widths) - 1))
    rows = len(scenario.cases)
    return max(row_widths) + 2 * GAP, TITLE_HEIGHT + rows * (LABEL_HEIGHT + PANEL) + rows * GAP


def test_gallery_renders_every_scenario_with_its_panels_and_hints(
    corpus, tmp_path, tiny_model_dir, tiny_smsanet_dir, tiny_exemplar_dir, tiny_cartoon_dir
):
    models = {
        "dlsa-tiny": tiny_model_dir,
        "smsanet-small": tiny_smsanet_dir,
        "axial-exemplar-small": str(tiny_exemplar_dir),
        "cartoon-coltran-small": str(tiny_cartoon_dir),
    }
    output = tmp_path / "gallery"
    written = gallery.write_gallery(SCENARIOS, corpus, output, models, panel_height=PANEL)

    assert [path.name for path in written] == [f"{s.name}.jpg" for s in SCENARIOS] + ["README.md"]
    for scenario in SCENARIOS:
        with Image.open(output / f"{scenario.name}.jpg") as image:
            assert image.format == "JPEG" and image.size == expected_size(scenario)
    hints = np.asarray(Image.open(output / "hints.jpg")).astype(int)
    scale = PANEL / SIZES["photos/test/a.png"][1]
    marker = hints[TITLE_HEIGHT + LABEL_HEIGHT + round(20 * scale), GAP + round(36 * scale)]
    assert marker[1] > 180 and marker[0] < 100 and marker[2] < 100  # the named green hint, marked on the input
    readme = (output / "README.md").read_text()
    assert all(f"![{s.title}]({s.name}.jpg)" in readme for s in SCENARIOS)
    assert "(6, 20) `#c81e1e`, (36, 20) `#00ff00`" in readme  # the truth's colour where none is named
    assert f"`{tiny_model_dir}`" in readme


def test_bundled_scenarios_cover_every_bundled_model():
    assert {scenario.model for scenario in gallery.SCENARIOS} == set(gallery.hf_colorize.BUNDLED_MODELS)


def test_save_jpeg_lowers_quality_to_fit_the_byte_budget(tmp_path):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8))
    path = tmp_path / "noise.jpg"
    gallery.save_jpeg(noise, path, max_bytes=10**9)
    best = path.stat().st_size
    gallery.save_jpeg(noise, path, max_bytes=best * 3 // 4)
    assert path.stat().st_size <= best * 3 // 4
