"""A family's training recipe lives in its own folder (``training_<model_type>.py``) and the trainer finds it from
the registered family: a new family trains with one folder and one registration line, no table edited."""

import ast
import importlib
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import tiny_config
from transformers import AutoModelForImageToImage

from hf_colorize.models import REGISTERED_FAMILIES, register_family
from hf_colorize.training import build_parser, main, training_families, training_family

MODELS = Path(__file__).resolve().parent.parent / "src" / "hf_colorize" / "models"

FAKE_FAMILY = {
    "__init__.py": "",
    "configuration_fake_family.py": """
        from hf_colorize import DlsaConfig

        class FakeFamilyConfig(DlsaConfig):
            model_type = "fake_family"
        """,
    "modeling_fake_family.py": """
        from hf_colorize import DlsaForColorization, DlsaModel

        from .configuration_fake_family import FakeFamilyConfig

        class FakeFamilyModel(DlsaModel):
            config_class = FakeFamilyConfig

        class FakeFamilyForColorization(DlsaForColorization):
            config_class = FakeFamilyConfig
        """,
    "image_processing_fake_family.py": """
        from hf_colorize import DlsaImageProcessor

        class FakeFamilyImageProcessor(DlsaImageProcessor):
            pass
        """,
    "training_fake_family.py": """
        from hf_colorize.evaluation import colorize_with_hints
        from hf_colorize.training import TrainingFamily
        from hf_colorize.training.data import hint_model_inputs

        BATCHES = []

        def make_inputs(rgb, args, references, config):
            BATCHES.append(len(rgb))
            return hint_model_inputs(rgb, args.max_hints)

        TRAINING_FAMILY = TrainingFamily(make_inputs=make_inputs, colorize=colorize_with_hints, hint_counts=(0, 1))
        """,
}


@pytest.fixture
def fake_family(tmp_path_factory, request):
    """A family made outside the package: one folder, then one registration line."""
    root = tmp_path_factory.mktemp("plugins")
    (root / "fake_family").mkdir()
    for name, source in FAKE_FAMILY.items():
        (root / "fake_family" / name).write_text(textwrap.dedent(source))
    sys.path.insert(0, str(root))

    def forget():
        sys.path.remove(str(root))
        REGISTERED_FAMILIES.pop("fake_family", None)
        for name in [name for name in sys.modules if name.split(".")[0] == "fake_family"]:
            del sys.modules[name]

    request.addfinalizer(forget)
    configuration = importlib.import_module("fake_family.configuration_fake_family")
    modeling = importlib.import_module("fake_family.modeling_fake_family")
    processing = importlib.import_module("fake_family.image_processing_fake_family")
    register_family(
        configuration.FakeFamilyConfig,
        modeling.FakeFamilyModel,
        modeling.FakeFamilyForColorization,
        processing.FakeFamilyImageProcessor,
    )
    return configuration.FakeFamilyConfig


def test_a_new_familys_recipe_is_found_without_editing_the_trainer(fake_family, image_folder, tmp_path):
    recipe = importlib.import_module("fake_family.training_fake_family")
    assert training_family("fake_family") is recipe.TRAINING_FAMILY
    assert "fake_family" in training_families()
    parser = build_parser()
    assert "fake_family" in next(action for action in parser._actions if action.dest == "model_type").choices

    options = {name: value for name, value in tiny_config().to_diff_dict().items() if name != "model_type"}
    fake_family(**options).save_pretrained(tmp_path / "config")
    output_dir = tmp_path / "run"
    command = ["--config", str(tmp_path / "config"), "--train_data_dir", str(image_folder)]
    command += ["--output_dir", str(output_dir), "--resolution", "64", "--train_batch_size", "2"]
    assert main([*command, "--max_train_steps", "1", "--max_hints", "5", "--report_to", "none"]) == 0
    assert recipe.BATCHES  # the trainer built its batches with the family's own recipe
    assert type(AutoModelForImageToImage.from_pretrained(output_dir)).__name__ == "FakeFamilyForColorization"


def test_a_registered_family_without_a_recipe_is_not_offered(fake_family):
    (Path(sys.modules["fake_family"].__file__).parent / "training_fake_family.py").unlink()
    importlib.invalidate_caches()
    assert training_family("fake_family") is None and training_family("not_registered") is None
    assert "fake_family" not in training_families()


def test_the_parser_offers_each_family_with_a_recipe_and_its_stages():
    actions = {action.dest: action for action in build_parser()._actions}
    assert actions["model_type"].choices == ["axial_exemplar", "cartoon_coltran", "dlsa", "smsanet"]
    assert actions["stage"].choices == ["colorizer", "upgrader"]
    assert "cartoon_coltran: colorizer, then upgrader" in actions["stage"].help


@pytest.mark.parametrize("path", sorted(MODELS.glob("*/*.py")), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_only_the_trainer_imports_a_recipe(path: Path):
    """A family's modeling, configuration, processing and ``__init__`` modules never import its recipe or other
    training code, so ``import hf_colorize`` and inference load none."""
    if path.name.startswith("training_"):
        return
    tree = ast.parse(path.read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names]
    parts = [part for module in imported + names for part in module.split(".")]
    assert not [part for part in parts if part == "training" or part.startswith("training_")]
