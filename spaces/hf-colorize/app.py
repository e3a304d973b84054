"""hf_colorize in the browser: colour a grey photo or drawing with any bundled model, with hints placed by clicking,
painted scribbles, a colour reference picture or several samples.

    python spaces/hf-colorize/app.py        # http://127.0.0.1:7860, on CPU, no network needed

Reading the upload (any format PIL opens, EXIF orientation applied), encoding hints and references, resizing
and keeping the input's own lightness are all the package's ``pipeline("image-colorization")``; this file only
wires it to Gradio. The controls follow each family's ``accepted_requests``
(``hf_colorize.models.family_capabilities``) and its description is its config's ``description``, so a new family
shows up with the controls its requests need without an edit here.
"""

from __future__ import annotations

import functools
import os
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, ImageDraw

import hf_colorize
from hf_colorize.hints import InvalidHintError, parse_color, parse_hint_string
from hf_colorize.images import InvalidImageError, image_size, load_rgb_image, save_image
from hf_colorize.models import family_capabilities, family_description

HERE = Path(__file__).parent
EXAMPLES = sorted(str(path) for path in (HERE / "examples").glob("*-grey.*"))
REFERENCE_EXAMPLES = sorted(str(path) for path in (HERE / "examples").glob("reference-*"))
DEFAULT_MODEL = "dlsa-tiny"
CONCURRENCY_LIMIT = 2
"""Colorizations run at once; the queue holds the rest (a CPU Space has 2 cores)."""
NOTICE_PIXELS = 1_000_000
"""Inputs larger than this get a notice that the model saw them downscaled."""
MAX_UPLOAD = "50mb"
MAX_MEGAPIXELS_VARIABLE = "HF_COLORIZE_MAX_MEGAPIXELS"
"""The environment variable holding the largest image (or reference) a request may have, in megapixels."""
DEFAULT_MAX_MEGAPIXELS = 16.0
ANY_MODEL_VARIABLE = "HF_COLORIZE_ALLOW_ANY_MODEL"
"""The environment variable that, set to 1, lets visitors type a saved model folder or a Hub id (else: bundled models
only, so that nobody can probe the server's files or make it download any repository)."""
OUTPUTS = Path(gr.utils.get_upload_folder()) / "hf-colorize"
"""The one folder the downloadable PNGs are written to: inside Gradio's cache, whose files ``delete_cache`` removes."""
DELETE_CACHE = (600, 3600)
"""Every 10 minutes, Gradio deletes the app's cached files (uploads, outputs) older than an hour."""
REQUEST_CONTROLS = {
    "hints": "click on the image to place colour hints, or paint scribbles",
    "reference": "give a colour reference picture",
    "samples": "choose how many samples to draw",
}
"""How a visitor makes each request (``hf_colorize.models.REQUESTS``) with this app's controls; what a family does is
its config's ``description``."""


def image_input(**options: Any) -> gr.Image:
    """An image input (file path) that hands the upload to the app even when PIL cannot open it, so that the
    package's loader names the problem; Gradio's own check would answer with a bare PIL exception. (A subclass
    would do the same, but Gradio writes a ``.pyi`` stub next to the source of every component subclass.)"""
    component = gr.Image(type="filepath", image_mode=None, **options)
    preprocess = component.preprocess

    def preprocess_or_pass_the_path(payload):
        try:
            return preprocess(payload)
        except (OSError, Image.DecompressionBombError):  # PIL's UnidentifiedImageError, truncated files, bombs
            return str(payload.path)

    component.preprocess = preprocess_or_pass_the_path
    return component


def launch(app: gr.Blocks, **options: Any) -> gr.Blocks:
    """Queue and start the app as the Space runs it (``options`` override, e.g. for tests)."""
    settings = {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "max_file_size": MAX_UPLOAD,
        "show_error": True,
    }
    app.queue(default_concurrency_limit=CONCURRENCY_LIMIT).launch(**(settings | options))
    return app


def max_pixels() -> int:
    """The largest image a request may have, in pixels (the deployer's ``HF_COLORIZE_MAX_MEGAPIXELS``)."""
    return round(float(os.environ.get(MAX_MEGAPIXELS_VARIABLE, DEFAULT_MAX_MEGAPIXELS)) * 1e6)


def check_pixels(path: str, what: str) -> None:
    """Refuse an image over the Space's pixel limit before it is decoded (``InvalidImageError`` for a file that cannot
    be read, or one over the package's own limit)."""
    width, height = image_size(path)
    if width * height > max_pixels():
        raise gr.Error(
            f"{what} is {width}x{height} ({width * height / 1e6:.1f} megapixels); this Space colorizes images of up "
            f"to {max_pixels() / 1e6:g} megapixels."
        )


def any_model_allowed() -> bool:
    return os.environ.get(ANY_MODEL_VARIABLE) == "1"


@functools.lru_cache(maxsize=4)
def load_pipeline(model: str):
    """The model's pipeline, loaded once and kept (the four most recent models)."""
    try:
        return hf_colorize.load_colorization_pipeline(model)
    except ValueError as error:
        raise gr.Error(str(error)) from None


def family_of(model: str) -> str:
    """The model's family, from its pipeline (loaded once: choosing a model loads it for the next colorization)."""
    return load_pipeline(model).model.config.model_type


def capabilities(model: str) -> frozenset[str]:
    return family_capabilities(family_of(model))


def show_controls(model: str) -> tuple[dict, dict, dict, str]:
    """Show only the controls the chosen model's family honours."""
    family = family_of(model)
    can = family_capabilities(family)
    description = f"**{model}** (`{family}`): {family_description(family)}"
    how = "; ".join(REQUEST_CONTROLS[request] for request in sorted(can) if request in REQUEST_CONTROLS)
    if how:
        description += f" {how[:1].upper()}{how[1:]}."
    return (
        gr.update(visible="hints" in can),
        gr.update(visible="reference" in can),
        gr.update(visible="samples" in can),
        description,
    )


# hints placed by clicking live in a text box, one "x,y,#rrggbb" per line (the CLI's --hint syntax), so that a
# person can read, edit or delete them and an API call can pass them as text


def hint_lines(text: str) -> list[tuple[float, float, str]]:
    """The hints of the text box (``InvalidHintError`` for a malformed line)."""
    return [parse_hint_string(line) for line in text.splitlines() if line.strip()]


def parse_hint_lines(text: str) -> list[tuple[float, float, str]]:
    try:
        return hint_lines(text)
    except InvalidHintError as error:
        raise gr.Error(f"hint: {error}") from None


def hint_preview(image_path: str | None, text: str) -> Image.Image | None:
    """The input with a dot of each hint's colour where it was placed."""
    if image_path is None:
        return None
    try:
        check_pixels(image_path, "The image")
        preview = load_rgb_image(image_path)
        hints = hint_lines(text)
    except (InvalidImageError, InvalidHintError, gr.Error):
        return None
    draw = ImageDraw.Draw(preview)
    radius = max(4, round(min(preview.size) / 60))
    for x, y, colour in hints:
        box = (x - radius, y - radius, x + radius, y + radius)
        draw.ellipse(box, fill=colour, outline="white", width=max(1, radius // 3))
    return preview


def add_hint(image_path: str | None, text: str, colour: str, event: gr.SelectData) -> str:
    """A click on the image places a hint of the picked colour there."""
    if image_path is None:
        raise gr.Error("Upload an image before placing hints.")
    try:
        rgb = parse_color(colour)
    except InvalidHintError as error:
        raise gr.Error(f"hint colour: {error}") from None
    x, y = (int(value) for value in event.index)
    line = "{},{},#{:02x}{:02x}{:02x}".format(x, y, *rgb)
    return f"{text.rstrip()}\n{line}".lstrip()


def new_image(image_path: str | None) -> tuple[str, str | None]:
    """A new input clears the hints and becomes the scribble canvas."""
    return "", image_path


def scribble_layer(editor: dict | None, size: tuple[int, int]) -> Image.Image | None:
    """The painted layers of the scribble editor as one RGBA image of the input's size, or None if unpainted."""
    layers = [layer for layer in (editor or {}).get("layers") or [] if layer is not None]
    if not layers:
        return None
    merged = Image.new("RGBA", layers[0].size)
    for layer in layers:
        merged = Image.alpha_composite(merged, layer.convert("RGBA").resize(merged.size))
    if merged.getchannel("A").getbbox() is None:
        return None
    return merged.resize(size, Image.Resampling.NEAREST)


def model_request(
    model: str,
    size: tuple[int, int],
    hints: str,
    scribbles: dict | None,
    reference: str | None,
    num_samples: float,
    seed: float,
) -> dict[str, Any]:
    """The pipeline arguments the chosen model honours, from the controls."""
    can = capabilities(model)
    request: dict[str, Any] = {}
    if "hints" in can:
        scribble = scribble_layer(scribbles, size)
        placed = parse_hint_lines(hints) + ([scribble] if scribble is not None else [])
        if placed:
            request["hints"] = placed
    if "reference" in can:
        if reference is None:
            raise gr.Error("This model colours from a reference picture: add one under 'Colour reference'.")
        request["reference"] = reference
    if "samples" in can:
        request["num_samples"] = int(num_samples)
        request["seed"] = int(seed)
    return request


def save_output(image: Image.Image, name: str) -> str:
    """The PNG to download, in :data:`OUTPUTS` under a name of its own (requests may share an upload's name)."""
    path = OUTPUTS / f"{Path(name).stem}-colorized-{uuid.uuid4().hex[:8]}.png"
    save_image(image, path)
    return str(path)


def without_upload_folders(message: str, *paths: str | None) -> str:
    """``message`` naming uploads by their file names rather than Gradio's temporary folders."""
    for path in paths:
        if path:
            message = message.replace(path, Path(path).name)
    return message


def colorize(
    model: str,
    image_path: str | None,
    hints: str,
    scribbles: dict | None,
    reference: str | None,
    num_samples: float,
    seed: float,
):
    """Colorize the input with the chosen model: before/after, the samples, a PNG to download, and a notice."""
    if image_path is None:
        raise gr.Error("Upload an image (or pick an example) first.")
    try:
        check_pixels(image_path, "The image")
        if reference is not None:
            check_pixels(reference, "The reference")
        before = load_rgb_image(image_path)
        pipe = load_pipeline(model)
        result = pipe(image_path, **model_request(model, before.size, hints, scribbles, reference, num_samples, seed))
    except (InvalidImageError, InvalidHintError, ValueError) as error:
        raise gr.Error(without_upload_folders(str(error), image_path, reference)) from None
    samples = result if isinstance(result, list) else [result]
    width, height = before.size
    notice = ""
    if width * height > NOTICE_PIXELS:
        model_width, model_height = pipe.image_processor.model_size
        notice = (
            f"Your {width}x{height} image was downscaled to {model_width}x{model_height} for the model; its colours "
            f"were upsampled back and the output keeps the full {width}x{height} lightness."
        )
    labelled = [(sample, f"sample {n}") for n, sample in enumerate(samples, 1)]
    gallery = gr.update(value=labelled, visible=len(samples) > 1)
    return (before, samples[0]), gallery, save_output(samples[0], image_path), notice


def build_app() -> gr.Blocks:
    models = list(hf_colorize.BUNDLED_MODELS)
    any_model = any_model_allowed()
    with gr.Blocks(title="hf_colorize", delete_cache=DELETE_CACHE) as app:
        gr.Markdown(
            "# hf_colorize\nColour a grey photo or drawing. Pick a model, upload an image (or an example), "
            "add hints, a reference or a sample count where the model takes them, and press **Colorize**."
        )
        with gr.Row():
            with gr.Column():
                model = gr.Dropdown(
                    models,
                    value=DEFAULT_MODEL,
                    label="Model",
                    info="a bundled model, or type a saved model folder or a Hub id" if any_model else None,
                    allow_custom_value=any_model,
                )
                description = gr.Markdown(show_controls(DEFAULT_MODEL)[3])
                image = image_input(
                    sources=["upload", "webcam", "clipboard"],
                    label="Grey photo or drawing (click on it to place a hint)",
                    elem_id="input-image",
                )
                gr.Examples(EXAMPLES, inputs=image)
                with gr.Group(visible=True) as hint_controls:
                    colour = gr.ColorPicker(
                        "#f08020", label="Hint colour (then click on the image)", elem_id="hint-colour"
                    )
                    hints = gr.Textbox(
                        label="Placed hints: x,y,#rrggbb per line (delete a line to remove that hint)",
                        lines=3,
                        elem_id="hints",
                    )
                    preview = gr.Image(label="Where the hints are", interactive=False, height=240)
                    with gr.Accordion("Scribbles: paint colour strokes", open=False):
                        scribbles = gr.ImageEditor(type="pil", label="Paint on the image", layers=False)
                with gr.Group(visible=False) as reference_controls:
                    reference = image_input(label="Colour reference")
                    gr.Examples(REFERENCE_EXAMPLES, inputs=reference)
                with gr.Group(visible=False) as sample_controls:
                    num_samples = gr.Slider(1, 8, value=4, step=1, label="Samples")
                    seed = gr.Number(0, precision=0, label="Seed")
                run = gr.Button("Colorize", variant="primary", elem_id="colorize")
            with gr.Column():
                comparison = gr.ImageSlider(
                    label="Before / after", type="pil", elem_id="output-image", slider_position=25
                )
                gallery = gr.Gallery(label="Samples", visible=False, format="png")
                download = gr.File(label="Full-resolution PNG", elem_id="download")
                notice = gr.Markdown(elem_id="notice")

        model.change(show_controls, model, [hint_controls, reference_controls, sample_controls, description])
        image.change(new_image, image, [hints, scribbles])
        image.select(add_hint, [image, hints, colour], hints)
        hints.change(hint_preview, [image, hints], preview)
        run.click(
            colorize,
            [model, image, hints, scribbles, reference, num_samples, seed],
            [comparison, gallery, download, notice],
            concurrency_limit=CONCURRENCY_LIMIT,
            api_name="colorize",
        )
    return app


if __name__ == "__main__":
    launch(build_app())
