"""``import hf_colorize`` registers every family the way transformers documents for custom models (no import
hooks), and each family's traits are read from its own classes."""

import importlib.resources
import os
import subprocess
import sys

import pytest
from conftest import tiny_config
from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageToImage, pipeline

import hf_colorize
from hf_colorize import DlsaConfig, DlsaForColorization, DlsaImageProcessor, DlsaModel
from hf_colorize.export import OnnxExportError, to_onnx
from hf_colorize.models import (
    REGISTERED_FAMILIES,
    families_accepting,
    family_description,
    family_requirements,
    register_family,
)
from hf_colorize.pipeline import check_request
from hf_colorize.training.card import TRAINING_CARD_TEMPLATE, render_model_card

FAMILY_CLASSES = {
    "dlsa-tiny": ("DlsaConfig", "DlsaModel", "DlsaForColorization", "DlsaImageProcessor"),
    "smsanet-small": ("SmsanetConfig", "SmsanetModel", "SmsanetForColorization", "SmsanetImageProcessor"),
    "smsanet-lite0": ("SmsanetConfig", "SmsanetModel", "SmsanetForColorization", "SmsanetImageProcessor"),
    "axial-exemplar-small": (
        "AxialExemplarConfig",
        "AxialExemplarModel",
        "AxialExemplarForColorization",
        "AxialExemplarImageProcessor",
    ),
    "cartoon-coltran-small": (
        "CartoonColtranConfig",
        "CartoonColtranModel",
        "CartoonColtranForColorization",
        "CartoonColtranImageProcessor",
    ),
}


def test_resources_of_transformers_modules_stay_readable():
    assert any(importlib.resources.files("transformers.pipelines").iterdir())


def test_no_import_hook_is_installed():
    assert not [finder for finder in sys.meta_path if type(finder).__module__.startswith("hf_colorize")]


@pytest.mark.parametrize("name", sorted(FAMILY_CLASSES))
def test_every_auto_class_and_the_pipeline_know_every_family(name):
    config_name, model_name, colorization_name, processor_name = FAMILY_CLASSES[name]
    folder = hf_colorize.BUNDLED_MODELS[name]
    config = AutoConfig.from_pretrained(folder)
    assert type(config).__name__ == config_name
    assert type(AutoModel.from_config(config)).__name__ == model_name
    assert type(AutoModelForImageToImage.from_config(config)).__name__ == colorization_name
    assert type(AutoImageProcessor.from_pretrained(folder)).__name__ == processor_name
    pipe = pipeline("image-colorization", model=folder)
    assert (type(pipe).__name__, type(pipe.model).__name__) == ("ImageColorizationPipeline", colorization_name)


def test_families_register_when_transformers_is_imported_first():
    model = hf_colorize.BUNDLED_MODELS["smsanet-small"]
    code = (
        "from transformers import AutoModelForImageToImage, pipeline; import hf_colorize; "
        f"print(type(AutoModelForImageToImage.from_pretrained({model!r})).__name__, "
        f"type(pipeline('image-colorization', model={model!r})).__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["SmsanetForColorization", "ImageColorizationPipeline"]


class FakeConfig(DlsaConfig):
    model_type = "fake_colorizer"
    paper = "Doe, A fake paper on colorization"
    description = "Fake colorizer: a test double."


class FakeModel(DlsaModel):
    config_class = FakeConfig


class FakeForColorization(DlsaForColorization):
    config_class = FakeConfig
    onnx_unsupported_reason = "it is a test double"


class FakeImageProcessor(DlsaImageProcessor):
    accepted_requests = frozenset({"hints", "reference"})
    required_requests = frozenset({"reference"})


@pytest.fixture
def fake_family():
    register_family(FakeConfig, FakeModel, FakeForColorization, FakeImageProcessor)
    options = {name: value for name, value in tiny_config().to_diff_dict().items() if name != "model_type"}
    yield FakeForColorization(FakeConfig(**options))
    del REGISTERED_FAMILIES["fake_colorizer"]


def test_a_new_familys_traits_come_from_its_classes(fake_family, tmp_path):
    assert fake_family.config.model_type == "fake_colorizer"
    assert type(AutoModelForImageToImage.from_config(fake_family.config)) is FakeForColorization
    assert family_requirements("fake_colorizer") == {"reference"}
    assert family_description("fake_colorizer") == "Fake colorizer: a test double."
    assert families_accepting("reference") == ["axial_exemplar", "fake_colorizer"]
    check_request("fake_colorizer", {"hints", "reference"})
    with pytest.raises(ValueError, match="use a 'cartoon_coltran' model"):
        check_request("fake_colorizer", {"samples"})
    with pytest.raises(OnnxExportError, match="it is a test double"):
        to_onnx(fake_family, tmp_path / "fake.onnx")
    card = render_model_card(TRAINING_CARD_TEMPLATE, "fake_colorizer", "me/fake", 1.0, 10, "-", "-")
    assert "A fake paper on colorization" in str(card)


def test_bundled_families_declare_their_traits():
    assert {name: family.accepted_requests for name, family in REGISTERED_FAMILIES.items()} == {
        "dlsa": {"hints"},
        "smsanet": set(),
        "axial_exemplar": {"reference"},
        "cartoon_coltran": {"samples"},
    }
    assert [name for name, family in REGISTERED_FAMILIES.items() if family.onnx_unsupported_reason] == [
        "cartoon_coltran"
    ]
    assert all(family.paper and family.description for family in REGISTERED_FAMILIES.values())
