"""The Gradio Space, driven through its API with ``gradio_client`` against the app launched on 127.0.0.1."""

import importlib.util
import struct
import sys
import time
import zlib
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from hf_colorize import DlsaConfig, SmsanetConfig

SPACE = Path(__file__).parent.parent / "spaces" / "hf-colorize"


def load_app_module():
    spec = importlib.util.spec_from_file_location("hf_colorize_space", SPACE / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Gradio reads the source of the app's component classes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def space():
    """The app as a deployer who allows any model runs it (the tests use tiny saved models)."""
    module = load_app_module()
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv(module.ANY_MODEL_VARIABLE, "1")
        app = module.launch(module.build_app(), server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        yield Client(app.local_url, verbose=False)
    finally:
        app.close()


@pytest.fixture(scope="module")
def default_space():
    """The app as deployed by default (bundled models only), deleting cached files older than a second."""
    module = load_app_module()
    app = module.build_app()
    app.delete_cache = (1, 1)
    module.launch(app, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        yield module, Client(app.local_url, verbose=False)
    finally:
        app.close()


@pytest.fixture
def photo(tmp_path, color_image):
    path = tmp_path / "photo.png"
    color_image.convert("L").save(path)
    return path


def colorize(space, model, image, hints="", reference=None, samples=1, seed=0):
    reference = handle_file(str(reference)) if reference is not None else None
    return space.predict(
        str(model), handle_file(str(image)), hints, None, reference, samples, seed, api_name="/colorize"
    )


def assert_colorized(result, size):
    (before, after), gallery, download, notice = result
    assert Image.open(after).size == size and Image.open(download).size == size
    assert Image.open(before).size == size
    return Image.open(download).convert("RGB")


def test_automatic_model(space, photo):
    assert_colorized(colorize(space, "smsanet-small", photo), Image.open(photo).size)


def test_point_hints_change_the_colours(space, photo):
    size = Image.open(photo).size
    plain = assert_colorized(colorize(space, "dlsa-tiny", photo), size)
    hinted = assert_colorized(colorize(space, "dlsa-tiny", photo, hints="10,10,#ff0000\n60,30,#00ff00"), size)
    assert plain.tobytes() != hinted.tobytes()


def test_reference_model(space, photo, tmp_path, tiny_exemplar_dir, color_image):
    reference = tmp_path / "reference.jpg"
    color_image.resize((50, 90)).save(reference)
    assert_colorized(colorize(space, tiny_exemplar_dir, photo, reference=reference), Image.open(photo).size)
    with pytest.raises(AppError, match="reference picture"):
        colorize(space, tiny_exemplar_dir, photo)


def test_samples_model(space, photo, tiny_cartoon_dir):
    size = Image.open(photo).size
    result = colorize(space, tiny_cartoon_dir, photo, samples=3, seed=0)
    first = assert_colorized(result, size)
    gallery = result[1]["value"]
    assert result[1]["visible"] and len(gallery) == 3
    assert all(Image.open(item["image"]).size == size for item in gallery)
    assert len({Image.open(item["image"]).tobytes() for item in gallery}) == 3
    again = colorize(space, tiny_cartoon_dir, photo, samples=3, seed=0)
    assert assert_colorized(again, size).tobytes() == first.tobytes()


def test_bad_inputs_are_errors_and_the_app_keeps_working(space, photo, tmp_path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(AppError, match="^'?corrupt.jpg: cannot be read"):
        colorize(space, "dlsa-tiny", corrupt)
    with pytest.raises(AppError, match="outside the 80x48 image"):
        colorize(space, "dlsa-tiny", photo, hints="500,10,#ff0000")
    with pytest.raises(AppError, match="hint"):
        colorize(space, "dlsa-tiny", photo, hints="10,10,red-ish")
    with pytest.raises(AppError, match="no-such-model"):
        colorize(space, "no-such-model", photo)
    assert_colorized(colorize(space, "dlsa-tiny", photo), Image.open(photo).size)


def test_scribbles_are_hints(space, photo, tmp_path):
    size = Image.open(photo).size
    layer = Image.new("RGBA", size)
    layer.paste((0, 0, 255, 255), (0, 0, size[0] // 2, size[1]))
    layer.save(tmp_path / "layer.png")
    editor = {"background": handle_file(str(photo)), "layers": [handle_file(str(tmp_path / "layer.png"))]}
    editor["composite"] = None
    plain = assert_colorized(colorize(space, "dlsa-tiny", photo), size)
    painted = space.predict("dlsa-tiny", handle_file(str(photo)), "", editor, None, 1, 0, api_name="/colorize")
    assert assert_colorized(painted, size).tobytes() != plain.tobytes()


def test_large_inputs_get_a_notice_and_keep_their_size(space, tmp_path, color_image):
    large = tmp_path / "large.png"
    color_image.convert("L").resize((1400, 900)).save(large)
    result = colorize(space, "smsanet-small", large)
    assert_colorized(result, (1400, 900))
    assert "downscaled to 224x224 for the model" in result[3] and "1400x900" in result[3]


def test_small_inputs_get_no_notice(space, photo):
    assert colorize(space, "smsanet-small", photo)[3] == ""


def test_controls_follow_the_family(tiny_exemplar_dir, tiny_cartoon_dir):
    module = load_app_module()
    visible, descriptions = {}, {}
    for model in ("dlsa-tiny", "smsanet-small", str(tiny_exemplar_dir), str(tiny_cartoon_dir)):
        hints, reference, samples, descriptions[model] = module.show_controls(model)
        visible[model] = (hints["visible"], reference["visible"], samples["visible"])
    assert visible == {
        "dlsa-tiny": (True, False, False),
        "smsanet-small": (False, False, False),
        str(tiny_exemplar_dir): (False, True, False),
        str(tiny_cartoon_dir): (False, False, True),
    }
    # what a family does comes from its config's description, how to ask for it from the app's controls
    assert descriptions["dlsa-tiny"] == (
        f"**dlsa-tiny** (`dlsa`): {DlsaConfig.description} Click on the image to place colour hints, or paint "
        "scribbles."
    )
    assert descriptions["smsanet-small"] == f"**smsanet-small** (`smsanet`): {SmsanetConfig.description}"


def test_an_image_over_the_deployers_pixel_limit_is_refused(space, photo, monkeypatch):
    monkeypatch.setenv("HF_COLORIZE_MAX_MEGAPIXELS", "0.001")
    with pytest.raises(AppError, match=r"The image is 80x48 \(0.0 megapixels\); .* up to 0.001 megapixels"):
        colorize(space, "dlsa-tiny", photo)
    monkeypatch.delenv("HF_COLORIZE_MAX_MEGAPIXELS")
    assert_colorized(colorize(space, "dlsa-tiny", photo), Image.open(photo).size)


def test_the_default_pixel_limit_is_16_megapixels(monkeypatch):
    monkeypatch.delenv("HF_COLORIZE_MAX_MEGAPIXELS", raising=False)
    assert load_app_module().max_pixels() == 16_000_000


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_of_size(width: int, height: int) -> bytes:
    """A tiny PNG file whose header announces ``width`` x ``height`` pixels (a decompression bomb's first bytes)."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IEND", b"")


def test_a_decompression_bomb_gets_the_packages_message(space, tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_of_size(30_000, 30_000))
    with pytest.raises(AppError) as raised:
        colorize(space, "dlsa-tiny", bomb)
    assert str(raised.value).strip("'") == "bomb.png: image is too large (over 64 megapixels)"


def test_only_bundled_models_by_default(default_space, photo, tmp_path):
    module, client = default_space
    errors = []
    for model in ("/etc", str(tmp_path / "no-such-model"), "some-org/some-model"):
        with pytest.raises(AppError) as raised:
            colorize(client, model, photo)
        errors.append(str(raised.value).replace(model, "MODEL"))
    assert len(set(errors)) == 1 and "not in the list of choices" in errors[0]  # a path's existence shows nowhere
    assert_colorized(colorize(client, "smsanet-small", photo), Image.open(photo).size)


def test_outputs_go_to_one_folder_that_gradio_empties(default_space, photo):
    module, client = default_space
    before = set(module.OUTPUTS.glob("photo-colorized-*.png"))
    assert_colorized(colorize(client, "smsanet-small", photo), Image.open(photo).size)
    written = set(module.OUTPUTS.glob("photo-colorized-*.png")) - before
    assert len(written) == 1
    deadline = time.monotonic() + 30
    while any(path.exists() for path in written) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(path.exists() for path in written)
