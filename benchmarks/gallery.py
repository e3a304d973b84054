"""A gallery of fixed user scenarios for every bundled model, to look at rather than to measure.

    python benchmarks/gallery.py [--corpus ../shared/corpus] [--output docs/gallery]
                                 [--model NAME=DIR_OR_ID ...] [--panel_height 224]

Each scenario of ``SCENARIOS`` is one picture, ``OUTPUT/<scenario>.jpg``: one row per test picture, showing the grey
input (with its hints marked: a circle in the hint's colour ringed in white and black, or the scribble's strokes
outlined the same way), the reference picture where there is one, the model's output(s) and the ground truth.
Hint positions are fixed here and their colours are the ground truth's mean under the hint (a point's
``HINT_SQUARE`` square, a stroke's pixels) unless the hint names its colour, so a rerun with a new model shows the
same requests. Panels are ``PANEL_HEIGHT`` pixels tall and each JPEG is kept under ``MAX_JPEG_BYTES``.
``--model dlsa-tiny=runs/dlsa-tiny/checkpoint-2000/model`` renders a scenario's model from another folder.
``OUTPUT/README.md`` lists the scenarios, their pictures and the hints used.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from evaluate_quality import CORPUS
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from transformers import Pipeline, pipeline

import hf_colorize
from hf_colorize.color import lab_to_rgb
from hf_colorize.images import load_lightness, load_rgb_image, to_pil

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "docs" / "gallery"
PANEL_HEIGHT = 224
"""Height of every panel in pixels; its width keeps the picture's aspect ratio."""
JPEG_QUALITY = 85
MAX_JPEG_BYTES = 150_000
"""A gallery picture larger than this at ``JPEG_QUALITY`` is saved at a lower quality (down to
``MIN_JPEG_QUALITY``), so the committed files stay small."""
MIN_JPEG_QUALITY = 60
GAP = 6
"""Pixels between panels, rows and the picture's edges."""
LABEL_HEIGHT = 20
TITLE_HEIGHT = 28
FONT_SIZE = 14
HINT_SQUARE = 5
"""Side, in input pixels, of the square around a point hint whose mean true colour the hint takes."""
MARKER_RADIUS = 5
"""Radius of a point hint's marker in panel pixels; a white and a black ring go round it."""
STROKE_WIDTH = 0.025
"""Width of a scribble's strokes, as a share of the picture's shorter side."""

Point = tuple[int, int]


@dataclass(frozen=True)
class PointHint:
    """A hint at ``(x, y)`` in input pixels, coloured ``colour`` (``"#rrggbb"``) or, if ``None``, as the truth."""

    x: int
    y: int
    colour: str | None = None


@dataclass(frozen=True)
class Case:
    """One test picture of a scenario (paths relative to the corpus) and what the user gives with it."""

    picture: str
    hints: tuple[PointHint, ...] = ()
    strokes: tuple[tuple[Point, ...], ...] = ()
    """Scribble strokes, each a polyline drawn in the truth's mean colour under it and passed as an RGBA image."""
    reference: str | None = None
    note: str = ""
    """What to look for, said in the gallery's README."""


@dataclass(frozen=True)
class Scenario:
    """What one gallery picture shows: ``model`` (a bundled model's name) run on each of ``cases``."""

    name: str
    title: str
    model: str
    cases: tuple[Case, ...]
    num_samples: int = 1
    seed: int = 0


FRUITS = "photos/test/opencv-fruits.jpg"
TIGER = "photos/test/bsds500-108004.jpg"
HARBOUR = "photos/test/bsds500-118015.jpg"
FISHING_BOAT = "illustrations/test/gcompris-svg-fifteen__fishing_boat_scene.png"
NO_HINT_CASES = (Case(FRUITS), Case(TIGER), Case(FISHING_BOAT))
ONE_HINT_CASES = (
    Case(
        "photos/test/opencv-orange.jpg",
        (PointHint(5, 5, "#00ff00"),),
        note="issue 20's failure case: with the first bundled dlsa-tiny this hint painted the orange green",
    ),
    Case(FRUITS, (PointHint(318, 170),), note="on the blue cloth"),
    Case("photos/test/opencv-building.jpg", (PointHint(80, 420),), note="on the tree"),
)
REFERENCE_CASES = (
    Case(TIGER, reference="photos/test/bsds500-108036.jpg"),
    Case(HARBOUR, reference="photos/test/bsds500-140088.jpg"),
    Case(FISHING_BOAT, reference="illustrations/test/gcompris-svg-ballcatch__beach1.png"),
)

SCENARIOS = (
    Scenario("dlsa-tiny-no-hints", "dlsa-tiny, no hints: the model's own guess", "dlsa-tiny", NO_HINT_CASES),
    Scenario("dlsa-tiny-one-hint", "dlsa-tiny, one hint", "dlsa-tiny", ONE_HINT_CASES),
    Scenario(
        "dlsa-lite0-no-hints",
        "dlsa-lite0, no hints: the model's own guess (ImageNet-pretrained semantic branch)",
        "dlsa-lite0",
        NO_HINT_CASES,
    ),
    Scenario("dlsa-lite0-one-hint", "dlsa-lite0, one hint", "dlsa-lite0", ONE_HINT_CASES),
    Scenario(
        "dlsa-tiny-five-hints",
        "dlsa-tiny, five hints on different objects",
        "dlsa-tiny",
        (
            Case(FRUITS, tuple(PointHint(*p) for p in ((200, 250), (430, 200), (430, 380), (40, 380), (350, 60)))),
            Case(
                "photos/test/bsds500-157032.jpg",
                tuple(PointHint(*p) for p in ((130, 230), (232, 120), (318, 195), (100, 60), (380, 290))),
            ),
            Case(
                "illustrations/test/wesnoth-humans-cavalier.png",
                tuple(PointHint(*p) for p in ((215, 200), (270, 200), (90, 230), (150, 340), (350, 330))),
            ),
        ),
    ),
    Scenario(
        "dlsa-tiny-scribble",
        "dlsa-tiny, a scribble (strokes as an RGBA hint image)",
        "dlsa-tiny",
        (
            Case(TIGER, strokes=(((190, 160), (260, 135), (330, 125)), ((30, 290), (250, 295), (450, 280)))),
            Case(
                "illustrations/test/openclipart-buildings_homes_lowtec_house_christoph_b_01.png",
                strokes=(((130, 40), (220, 80)), ((80, 170), (80, 280)), ((225, 180), (235, 270))),
            ),
        ),
    ),
    Scenario("smsanet-small-automatic", "smsanet-small, automatic", "smsanet-small", NO_HINT_CASES),
    Scenario(
        "smsanet-lite0-automatic",
        "smsanet-lite0, automatic (ImageNet-pretrained encoder)",
        "smsanet-lite0",
        (*NO_HINT_CASES, Case("photos/test/opencv-orange.jpg")),
    ),
    Scenario(
        "axial-exemplar-small-reference",
        "axial-exemplar-small, a reference from another picture",
        "axial-exemplar-small",
        REFERENCE_CASES,
    ),
    Scenario(
        "axial-exemplar-lite0-reference",
        "axial-exemplar-lite0, a reference from another picture (ImageNet-pretrained features)",
        "axial-exemplar-lite0",
        REFERENCE_CASES,
    ),
    Scenario(
        "cartoon-coltran-small-samples",
        "cartoon-coltran-small, four samples (seed 0)",
        "cartoon-coltran-small",
        (
            Case("illustrations/test/openclipart-animals_mammals_big_cats_tiger_graig_ryan_smith_-_01.png"),
            Case("illustrations/test/wesnoth-elves-lady.png"),
        ),
        num_samples=4,
    ),
)


def hex_colour(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{round(channel):02x}" for channel in rgb)


def mean_colour(truth: np.ndarray, mask: np.ndarray) -> str:
    """The mean colour of ``truth`` ``(H, W, 3)`` uint8 where ``mask`` is set, as ``"#rrggbb"``."""
    return hex_colour(truth[mask].mean(axis=0))


def point_hints(case: Case, truth: np.ndarray) -> list[tuple[int, int, str]]:
    """The case's point hints as the pipeline takes them, with the truth's colours filled in."""
    hints = []
    for hint in case.hints:
        mask = np.zeros(truth.shape[:2], dtype=bool)
        half = HINT_SQUARE // 2
        mask[max(0, hint.y - half) : hint.y + half + 1, max(0, hint.x - half) : hint.x + half + 1] = True
        hints.append((hint.x, hint.y, hint.colour or mean_colour(truth, mask)))
    return hints


def scribble(case: Case, truth: np.ndarray) -> Image.Image:
    """The case's strokes drawn on a transparent RGBA image of the picture's size, each in the truth's colour."""
    height, width = truth.shape[:2]
    width_px = max(1, round(STROKE_WIDTH * min(height, width)))
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    for stroke in case.strokes:
        mask = Image.new("L", (width, height))
        ImageDraw.Draw(mask).line(stroke, fill=255, width=width_px, joint="curve")
        colour = mean_colour(truth, np.asarray(mask) > 0)
        image.paste(Image.new("RGBA", image.size, colour), mask=mask)
    return image


def grey(path: Path) -> Image.Image:
    """The picture's CIE lightness as a grey RGB image: what the model is given."""
    lightness = load_lightness(path)
    return to_pil(lab_to_rgb(torch.cat([lightness, torch.zeros(2, *lightness.shape[1:])])))


@dataclass
class RenderedCase:
    """A case's panels as ``(label, image)`` at input size, with the point hints and the scribble it was given."""

    panels: list[tuple[str, Image.Image]]
    hints: list[tuple[int, int, str]]
    scribble: Image.Image | None


def run_case(pipe: Pipeline, scenario: Scenario, case: Case, corpus: Path) -> RenderedCase:
    """Run the scenario's pipeline on one case: the input, reference, output(s) and truth panels."""
    path = corpus / case.picture
    truth = load_rgb_image(path)
    truth_array = np.asarray(truth)
    hints = point_hints(case, truth_array)
    strokes = scribble(case, truth_array) if case.strokes else None
    request = {}
    if hints or strokes:
        request["hints"] = [*hints, strokes] if strokes else hints
    if case.reference:
        request["reference"] = corpus / case.reference
    if scenario.num_samples > 1:
        request.update(num_samples=scenario.num_samples, seed=scenario.seed)
    outputs = pipe(path, **request)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    given = f", {len(hints)} hint{'s' * (len(hints) > 1)}" if hints else (", scribble" if strokes else "")
    panels = [(f"grey input{given}", grey(path))]
    if case.reference:
        panels.append(("reference", load_rgb_image(corpus / case.reference)))
    if len(outputs) > 1:
        panels += [(f"sample {index + 1}", output) for index, output in enumerate(outputs)]
    else:
        panels.append((scenario.model, outputs[0]))
    panels.append(("ground truth", truth))
    return RenderedCase(panels, hints, strokes)


@cache
def font(size: int = FONT_SIZE) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def resized(image: Image.Image, height: int) -> Image.Image:
    width = max(1, round(image.width * height / image.height))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def mark_points(panel: Image.Image, hints: Sequence[tuple[int, int, str]], scale: float) -> None:
    """Draw each hint on ``panel`` (``scale`` panel pixels per input pixel): its colour ringed in white and black."""
    draw = ImageDraw.Draw(panel)
    for x, y, colour in hints:
        centre = (x * scale, y * scale)
        for radius, fill in ((MARKER_RADIUS + 3, "black"), (MARKER_RADIUS + 2, "white"), (MARKER_RADIUS, colour)):
            draw.circle(centre, radius, fill=fill)


def mark_scribble(panel: Image.Image, strokes: Image.Image) -> None:
    """Paste the scribble's strokes on ``panel``, outlined in white and black so they show on any background."""
    small = strokes.resize(panel.size, Image.Resampling.NEAREST)
    mask = small.getchannel("A").point(lambda alpha: 255 if alpha else 0)
    panel.paste("black", mask=mask.filter(ImageFilter.MaxFilter(5)))
    panel.paste("white", mask=mask.filter(ImageFilter.MaxFilter(3)))
    panel.paste(small.convert("RGB"), mask=mask)


def fitted(text: str, width: int, draw: ImageDraw.ImageDraw) -> str:
    """``text``, cut short with an ellipsis if it is wider than ``width`` pixels."""
    while text and draw.textlength(text, font=font()) > width:
        text = text[:-2] + "…" if len(text) > 1 else ""
    return text


def row_image(rendered: RenderedCase, panel_height: int) -> Image.Image:
    """One case's panels side by side, each labelled above, with the hints marked on the input panel."""
    panels = [(label, resized(image, panel_height)) for label, image in rendered.panels]
    input_panel, input_image = panels[0][1], rendered.panels[0][1]
    mark_points(input_panel, rendered.hints, input_panel.height / input_image.height)
    if rendered.scribble is not None:
        mark_scribble(input_panel, rendered.scribble)
    width = sum(panel.width for _, panel in panels) + GAP * (len(panels) - 1)
    row = Image.new("RGB", (width, LABEL_HEIGHT + panel_height), "white")
    draw = ImageDraw.Draw(row)
    left = 0
    for label, panel in panels:
        draw.text((left, 2), fitted(label, panel.width, draw), fill="black", font=font())
        row.paste(panel, (left, LABEL_HEIGHT))
        left += panel.width + GAP
    return row


def grid_image(title: str, rows: Sequence[Image.Image]) -> Image.Image:
    """The rows one under another below a title, on white with a ``GAP`` margin."""
    width = max(row.width for row in rows) + 2 * GAP
    height = TITLE_HEIGHT + sum(row.height for row in rows) + GAP * len(rows)
    grid = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(grid).text((GAP, 6), title, fill="black", font=font(FONT_SIZE + 2))
    top = TITLE_HEIGHT
    for row in rows:
        grid.paste(row, (GAP, top))
        top += row.height + GAP
    return grid


def render_scenario(
    pipe: Pipeline, scenario: Scenario, corpus: Path, panel_height: int = PANEL_HEIGHT
) -> tuple[Image.Image, list[RenderedCase]]:
    """The scenario's gallery picture and its rendered cases."""
    rendered = [run_case(pipe, scenario, case, corpus) for case in scenario.cases]
    return grid_image(scenario.title, [row_image(case, panel_height) for case in rendered]), rendered


def describe_case(case: Case, rendered: RenderedCase) -> str:
    """A markdown list item naming the case's picture and what was given with it."""
    parts = [f"`{case.picture}`"]
    if rendered.hints:
        parts.append("hints " + ", ".join(f"({x}, {y}) `{colour}`" for x, y, colour in rendered.hints))
    if case.strokes:
        parts.append(f"{len(case.strokes)} strokes through " + "; ".join(str(list(s)) for s in case.strokes))
    if case.reference:
        parts.append(f"reference `{case.reference}`")
    if case.note:
        parts.append(case.note)
    return "- " + ", ".join(parts)


def model_label(name: str, model: str) -> str:
    """How the README names the model run for ``name``: the bundled model, or the folder or Hub id given instead."""
    if model == hf_colorize.BUNDLED_MODELS.get(name):
        return f"the bundled `{name}`"
    path = Path(model).resolve()
    return f"`{path.relative_to(ROOT) if path.is_relative_to(ROOT) else model}`"


def gallery_readme(entries: Sequence[tuple[Scenario, list[RenderedCase]]], models: Mapping[str, str]) -> str:
    lines = [
        "# Gallery",
        "",
        "Written by `python benchmarks/gallery.py`: fixed scenarios (pictures, hint positions) run through the",
        "`image-colorization` pipeline. Each row shows the grey input with its hints marked, the reference where",
        "there is one, the output(s) and the ground truth. Hint colours are the ground truth's mean under the hint",
        f"({HINT_SQUARE}x{HINT_SQUARE} pixels for a point, the stroke's pixels for a scribble) unless named below.",
        "",
    ]
    for scenario, rendered in entries:
        lines += [f"## {scenario.title}", "", f"Model: {model_label(scenario.model, models[scenario.model])}.", ""]
        lines += [describe_case(case, result) for case, result in zip(scenario.cases, rendered)]
        lines += ["", f"![{scenario.title}]({scenario.name}.jpg)", ""]
    return "\n".join(lines)


def save_jpeg(image: Image.Image, path: Path, max_bytes: int = MAX_JPEG_BYTES) -> None:
    """Save ``image`` at the highest quality from ``JPEG_QUALITY`` down, in steps of 5, that fits ``max_bytes``
    (``MIN_JPEG_QUALITY`` if none does)."""
    for quality in range(JPEG_QUALITY, MIN_JPEG_QUALITY - 1, -5):
        encoded = io.BytesIO()
        image.save(encoded, format="JPEG", quality=quality, optimize=True)
        if encoded.tell() <= max_bytes:
            break
    path.write_bytes(encoded.getvalue())


@cache
def load_pipeline(model: str) -> Pipeline:
    return pipeline("image-colorization", model=model)


def write_gallery(
    scenarios: Sequence[Scenario],
    corpus: Path,
    output: Path,
    models: Mapping[str, str] | None = None,
    panel_height: int = PANEL_HEIGHT,
    readme: bool = True,
) -> list[Path]:
    """Render every scenario to ``output/<name>.jpg`` and, with ``readme``, write ``output/README.md``; the files
    written.

    ``models`` maps a scenario's model name to the folder or Hub id to run (by default the bundled model's folder).
    """
    models = {**hf_colorize.BUNDLED_MODELS, **(models or {})}
    output.mkdir(parents=True, exist_ok=True)
    written, entries = [], []
    for scenario in scenarios:
        image, rendered = render_scenario(load_pipeline(models[scenario.model]), scenario, corpus, panel_height)
        path = output / f"{scenario.name}.jpg"
        save_jpeg(image, path)
        written.append(path)
        entries.append((scenario, rendered))
    if not readme:
        return written
    readme_path = output / "README.md"
    readme_path.write_text(gallery_readme(entries, models))
    return [*written, readme_path]


def model_override(text: str) -> tuple[str, str]:
    name, separator, model = text.partition("=")
    names = sorted(hf_colorize.BUNDLED_MODELS)
    if not separator or name not in names:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR_OR_ID with NAME one of {', '.join(names)}")
    return name, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--output", type=Path, default=GALLERY)
    parser.add_argument(
        "--model", type=model_override, action="append", default=[], help="NAME=DIR_OR_ID: run NAME's scenarios on it"
    )
    parser.add_argument("--panel_height", type=int, default=PANEL_HEIGHT)
    parser.add_argument(
        "--only",
        choices=sorted(hf_colorize.BUNDLED_MODELS),
        action="append",
        help="re-render only this model's pictures (repeatable) and keep the other pictures and README.md as they are",
    )
    args = parser.parse_args()
    scenarios = [scenario for scenario in SCENARIOS if not args.only or scenario.model in args.only]
    written = write_gallery(scenarios, args.corpus, args.output, dict(args.model), args.panel_height, not args.only)
    for path in written:
        print(f"{path} ({path.stat().st_size / 1000:.0f} kB)")


if __name__ == "__main__":
    main()
