"""The Gradio Space in a real browser: Playwright drives Debian's chromium (nothing is downloaded).

Set ``SPACE_SCREENSHOT=path.png`` to keep the screenshot (the README's comes from this test).
"""

import io
import os
import re
import shutil
import urllib.request
from pathlib import Path
from urllib.parse import urljoin

import numpy as np
import pytest
import torch
from PIL import Image
from playwright.sync_api import expect, sync_playwright
from test_space import SPACE, load_app_module

from hf_colorize.color import rgb_to_lab

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EXAMPLE = SPACE / "examples" / "fruits-grey.jpg"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("HF_COLORIZE_REQUIRE_BROWSER"),
    reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it and requires this test",
)


def pick_colour(page, colour: str) -> None:
    """Set the hint colour through the colour picker's dialog."""
    page.locator("#hint-colour button.dialog-button").click()
    field = page.locator("#hint-colour input[type=text]")
    field.fill(colour)
    field.press("Enter")
    page.keyboard.press("Escape")
    page.locator("h1").click()  # closes the dialog
    expect(page.locator("#hint-colour button.dialog-button")).to_have_attribute("style", re.compile(r"background"))


@pytest.fixture(scope="module")
def space_url():
    module = load_app_module()
    app = module.launch(module.build_app(), server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        yield app.local_url
    finally:
        app.close()


def test_upload_click_two_hints_and_colorize(space_url, tmp_path):
    screenshot = Path(os.environ.get("SPACE_SCREENSHOT", tmp_path / "space.png"))
    with sync_playwright() as playwright:
        assert CHROMIUM is not None, "no chromium on PATH: apt-get install chromium"
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(space_url)
        page.locator("#input-image input[type=file]").set_input_files(str(EXAMPLE))
        picture = page.locator("#input-image img").first
        expect(picture).to_be_visible(timeout=30_000)

        box = picture.bounding_box()
        hints = page.locator("#hints textarea")
        for fraction_x, fraction_y, colour in ((0.45, 0.55, "#f08020"), (0.1, 0.8, "#50a030")):
            pick_colour(page, colour)
            page.mouse.click(box["x"] + fraction_x * box["width"], box["y"] + fraction_y * box["height"])
            page.wait_for_timeout(500)
        expect(hints).to_have_value(re.compile(r"^\d+,\d+,#f08020\n\d+,\d+,#50a030$"), timeout=10_000)

        page.locator("#colorize").click()
        output = page.locator("#output-image img").last
        expect(output).to_be_visible(timeout=60_000)
        page.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=output.element_handle())
        natural_size = output.evaluate("image => [image.naturalWidth, image.naturalHeight]")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        expect(page.locator("#download")).to_contain_text("colorized")
        download = urljoin(space_url, page.locator("#download a").first.get_attribute("href"))
        browser.close()
    assert tuple(natural_size) == Image.open(EXAMPLE).size
    with Image.open(screenshot) as shot:  # the page as drawn, not an empty or blank file
        assert shot.width == 1280 and np.asarray(shot.convert("L")).std() > 10
    with urllib.request.urlopen(download) as response:
        colorized = Image.open(io.BytesIO(response.read())).convert("RGB")
    assert colorized.size == Image.open(EXAMPLE).size
    # The picture has the hints' hues where they were clicked: orange at (0.45, 0.55), green at (0.1, 0.8).
    lab = rgb_to_lab(torch.from_numpy(np.asarray(colorized) / 255.0).permute(2, 0, 1))
    for fraction_x, fraction_y, colour in ((0.45, 0.55, "#f08020"), (0.1, 0.8, "#50a030")):
        x, y = round(fraction_x * colorized.width), round(fraction_y * colorized.height)
        around = lab[1:, y - 2 : y + 3, x - 2 : x + 3].mean(dim=(1, 2))
        hint = rgb_to_lab(torch.tensor([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]).view(3, 1, 1))[1:, 0, 0]
        distance = (around - hint).norm()
        assert distance < 0.75 * hint.norm(), (colour, around.tolist())  # well on the way from grey to the hint
