"""The package as a user installs it: the wheel, installed (not editable) into a fresh venv, works outside the
repository, reading nothing of it but the example pictures it is given.

The wheel is built from a copy of the sources (no build isolation: setuptools is already here), and the venv is
given the installed dependencies (torch, transformers, gradio, ...) of the venv running the tests through a
``.pth`` line, without its editable ``hf_colorize``: the ``.pth`` files of a folder added that way are not read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from test_readme import QUIET_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "images" / "fruits-grey.jpg"
REFERENCE = ROOT / "examples" / "images" / "flower-reference.jpg"

CHECK_PIPELINES = f"""
from pathlib import Path
import sys

import hf_colorize
from PIL import Image
from transformers import pipeline

venv = Path(sys.prefix)
assert Path(hf_colorize.__file__).is_relative_to(venv), hf_colorize.__file__  # the wheel's, not the clone's
image = Image.open({str(EXAMPLE)!r}).resize((96, 90))
requests = {{"axial_exemplar": {{"reference": {str(REFERENCE)!r}}}, "cartoon_coltran": {{"seed": 0}}}}
for name, folder in hf_colorize.BUNDLED_MODELS.items():
    assert Path(folder).is_relative_to(venv), folder
    pipe = pipeline("image-colorization", model=folder)
    colorized = pipe(image, **requests.get(pipe.model.config.model_type, {{}}))
    assert colorized.size == image.size and colorized.mode == "RGB", name
    print("pipeline", name, "ok")
print("bundled models:", len(hf_colorize.BUNDLED_MODELS))
try:
    hf_colorize.load_colorization_pipeline("dlsa-small")  # a published variant without weights
except ValueError as error:
    config = str(error).split("--config ", 1)[1].split(" ", 1)[0]
    assert Path(config, "config.json").is_file() and Path(config).is_relative_to(venv), error
    assert "examples/" not in str(error), error
"""

IMPORT_SPACE = f"""
import importlib.util

spec = importlib.util.spec_from_file_location("app", {str(ROOT / "spaces" / "hf-colorize" / "app.py")!r})
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
assert app.build_app() is not None
print("space ok")
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed and the test venv's dependencies visible."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(ROOT / "src", source / "src", ignore=ignore, symlinks=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", work / "dist", source], check=True)
    (wheel,) = (work / "dist").glob("hf_colorize-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], check=True)
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def run(venv: Path, cwd: Path, *command) -> subprocess.CompletedProcess:
    environment = {**os.environ, **QUIET_ENVIRONMENT, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    environment.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, env=environment, timeout=600
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def test_the_wheel_ships_the_configs_and_the_readme(venv):
    python = venv / "bin" / "python"
    metadata = run(
        venv,
        venv,
        python,
        "-c",
        "from importlib.metadata import metadata; m = metadata('hf-colorize'); "
        "print(m['License-Expression'], len(m.get_all('Classifier')), m.get_all('Project-URL')[0]); "
        "print(m.get_payload()[:40])",
    ).stdout
    assert metadata.startswith("Apache-2.0 ") and "Homepage, https://" in metadata and "# hf_colorize" in metadata


def test_the_installed_package_works_outside_the_repository(venv, tmp_path):
    hf_colorize = venv / "bin" / "hf-colorize"
    out = run(venv, tmp_path, hf_colorize, EXAMPLE, "--hint", "200,250,#f08020", "-o", "fruits.jpg").stdout
    assert "fruits.jpg" in out and (tmp_path / "fruits.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    out = run(venv, tmp_path, venv / "bin" / "python", "-c", CHECK_PIPELINES).stdout
    bundled = int(out.split("bundled models: ")[1])
    assert bundled >= 4 and out.count(" ok\n") == bundled, out
    out = run(venv, tmp_path, hf_colorize, "export", "--onnx", "dlsa-tiny.onnx", "--model", "dlsa-tiny").stdout
    assert (tmp_path / "dlsa-tiny.onnx").stat().st_size > 1_000_000, out
    assert "space ok" in run(venv, tmp_path, venv / "bin" / "python", "-c", IMPORT_SPACE).stdout
