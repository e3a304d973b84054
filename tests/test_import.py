"""``import hf_colorize`` is cheap, and the families still register whatever transformers is imported first."""

import os
import subprocess
import sys

import pytest

import hf_colorize


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_loads_neither_torch_nor_transformers():
    code = "import sys, hf_colorize; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    assert run_python(code) == "[]"


@pytest.mark.parametrize(
    "auto_class, expected",
    [
        ("AutoConfig", "DlsaConfig"),
        ("AutoModel", "DlsaModel"),
        ("AutoModelForImageToImage", "DlsaForColorization"),
        ("AutoImageProcessor", "DlsaImageProcessor"),
    ],
)
@pytest.mark.parametrize("hf_colorize_first", [True, False])
def test_each_auto_class_knows_the_families(auto_class, expected, hf_colorize_first):
    imports = ["import hf_colorize", f"from transformers import {auto_class}"]
    if not hf_colorize_first:
        imports.reverse()
    model = hf_colorize.BUNDLED_MODELS["dlsa-tiny"]
    code = "; ".join(imports) + f"; print(type({auto_class}.from_pretrained({model!r})).__name__)"
    assert run_python(code).splitlines()[-1] == expected


def test_pipeline_task_is_registered_after_a_lazy_import():
    code = (
        "import hf_colorize; from transformers import pipeline; "
        "pipe = pipeline('image-colorization', model=hf_colorize.BUNDLED_MODELS['smsanet-small']); "
        "print(type(pipe).__name__, type(pipe.model).__name__)"
    )
    assert run_python(code).splitlines()[-1] == "ImageColorizationPipeline SmsanetForColorization"


def test_classes_load_on_first_use():
    assert hf_colorize.DlsaConfig.model_type == "dlsa"
    assert hf_colorize.colorize_video.__module__ == "hf_colorize.video"
    with pytest.raises(AttributeError, match="no attribute 'NoSuchModel'"):
        hf_colorize.NoSuchModel  # noqa: B018
