"""A family is its folder: its recipe (``training_<model_type>.py``: options, input builder, evaluation colorizer) lives
next to its configuration, modeling and image processing, and the trainer finds it from the registered family. A new
family trains, resumes and is benchmarked with one folder and one registration line, no shared file edited; and the
shared modules name no family."""

import ast
import importlib
import re
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageToImage

from hf_colorize.models import REGISTERED_FAMILIES, register_family
from hf_colorize.training import TrainingArgumentError, build_parser, train, training_families, training_family

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "hf_colorize"
MODELS = PACKAGE / "models"
BENCHMARKS = PACKAGE.parent.parent / "benchmarks"

TOY_FAMILY = {
    "__init__.py": "",
    "configuration_toy_family.py": """
        from transformers import PretrainedConfig

        class ToyFamilyConfig(PretrainedConfig):
            model_type = "toy_family"

            def __init__(self, image_size=32, hidden_size=4, **kwargs):
                self.image_size = image_size
                self.hidden_size = hidden_size
                super().__init__(**kwargs)
        """,
    "modeling_toy_family.py": """
        from dataclasses import dataclass

        import torch
        from torch import nn
        from transformers import PreTrainedModel
        from transformers.utils import ModelOutput

        from .configuration_toy_family import ToyFamilyConfig

        @dataclass
        class ToyFamilyOutput(ModelOutput):
            loss: torch.Tensor | None = None
            ab: torch.Tensor | None = None

        class ToyFamilyPreTrainedModel(PreTrainedModel):
            config_class = ToyFamilyConfig
            base_model_prefix = "toy_family"
            main_input_name = "pixel_values"

        class ToyFamilyModel(ToyFamilyPreTrainedModel):
            def __init__(self, config):
                super().__init__(config)
                self.conv = nn.Conv2d(1, config.hidden_size, 3, padding=1)
                self.post_init()

            def forward(self, pixel_values):
                return torch.relu(self.conv(pixel_values))

        class ToyFamilyForColorization(ToyFamilyPreTrainedModel):
            def __init__(self, config):
                super().__init__(config)
                self.toy_family = ToyFamilyModel(config)
                self.head = nn.Conv2d(config.hidden_size, 2, 1)
                self.post_init()

            def forward(self, pixel_values, labels=None):
                ab = torch.tanh(self.head(self.toy_family(pixel_values)))
                return ToyFamilyOutput(loss=None if labels is None else nn.functional.mse_loss(ab, labels), ab=ab)
        """,
    "image_processing_toy_family.py": """
        from hf_colorize.image_processing import ColorizationImageProcessor

        class ToyFamilyImageProcessor(ColorizationImageProcessor):
            pass
        """,
    "training_toy_family.py": """
        from dataclasses import dataclass
        from typing import ClassVar

        import torch

        from hf_colorize.evaluation import colorize_inputs, lightness_batch
        from hf_colorize.training.data import lab_targets
        from hf_colorize.training import TrainingFamily, TrainingOptions, option

        RECEIVED = []
        COLORIZED = []

        @dataclass(frozen=True)
        class ToyFamilyTrainingOptions(TrainingOptions):
            argument_group: ClassVar[str] = "toy_family (a family of the tests)"

            label_gain: float = option(1.0, "scale the true ab of the labels by this factor")

            def __post_init__(self):
                if self.label_gain <= 0:
                    raise ValueError(f"--label_gain must be positive, got {self.label_gain}")

        def toy_inputs(rgb, options, references, config):
            RECEIVED.append(options)
            lightness, ab = lab_targets(rgb)
            return {"pixel_values": lightness, "labels": ab * options.label_gain}

        @torch.no_grad()
        def colorize_toy(model, images, count=0):
            COLORIZED.append(len(images))
            return colorize_inputs(model, images, lightness_batch(images))

        TRAINING_FAMILY = TrainingFamily(toy_inputs, colorize_toy, options=ToyFamilyTrainingOptions)
        """,
}


@pytest.fixture
def toy_family(tmp_path_factory, request):
    """A family made outside the package, in a temporary folder on ``sys.path``: one folder, then one registration
    line. Its recipe module is not imported here: the trainer finds it."""
    root = tmp_path_factory.mktemp("plugins")
    (root / "toy_family").mkdir()
    for name, source in TOY_FAMILY.items():
        (root / "toy_family" / name).write_text(textwrap.dedent(source))
    sys.path.insert(0, str(root))

    def forget():
        sys.path.remove(str(root))
        REGISTERED_FAMILIES.pop("toy_family", None)
        for name in [name for name in sys.modules if name.split(".")[0] == "toy_family"]:
            del sys.modules[name]

    request.addfinalizer(forget)
    configuration = importlib.import_module("toy_family.configuration_toy_family")
    modeling = importlib.import_module("toy_family.modeling_toy_family")
    processing = importlib.import_module("toy_family.image_processing_toy_family")
    register_family(
        configuration.ToyFamilyConfig,
        modeling.ToyFamilyModel,
        modeling.ToyFamilyForColorization,
        processing.ToyFamilyImageProcessor,
    )


def toy_arguments(image_folder, output_dir, *extra):
    return build_parser().parse_args(
        [
            "--model_type", "toy_family", "--train_data_dir", str(image_folder), "--output_dir", str(output_dir),
            "--resolution", "32", "--train_batch_size", "2", "--checkpointing_steps", "2", "--report_to", "none",
            *extra,
        ]
    )  # fmt: skip


def test_a_new_family_in_a_folder_of_its_own_trains_resumes_and_is_benchmarked(toy_family, image_folder, tmp_path):
    help_text = build_parser().format_help()
    assert "toy_family (a family of the tests):" in help_text and "--label_gain" in help_text
    recipe = sys.modules["toy_family.training_toy_family"]  # imported by the parser, from the registered family
    assert training_family("toy_family") is recipe.TRAINING_FAMILY
    assert "toy_family" in training_families()
    with pytest.raises(TrainingArgumentError, match="--label_gain must be positive, got 0.0"):
        train(toy_arguments(image_folder, tmp_path / "bad", "--label_gain", "0"))
    assert not (tmp_path / "bad").exists()  # refused before any work

    full, resumed = tmp_path / "full", tmp_path / "resumed"
    train(toy_arguments(image_folder, full, "--max_train_steps", "4", "--label_gain", "0.5"))
    # The recipe gets its own options, typed, never the trainer's namespace.
    assert recipe.RECEIVED and set(recipe.RECEIVED) == {recipe.ToyFamilyTrainingOptions(label_gain=0.5)}
    resumed.mkdir()
    shutil.copytree(full / "checkpoint-2", resumed / "checkpoint-2")
    resume = ["--max_train_steps", "4", "--label_gain", "0.5", "--resume_from_checkpoint", "latest"]
    train(toy_arguments(image_folder, resumed, *resume))
    for name in ("model.safetensors", "checkpoint-4/model/model.safetensors"):
        first, second = load_file(full / name), load_file(resumed / name)
        assert first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)

    # The benchmark protocol (benchmarks/evaluate_quality.py) scores it through its recipe's colorizer.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from evaluate_quality import evaluate_folder, grey, model_method
    finally:
        sys.path.remove(str(BENCHMARKS))
    model = AutoModelForImageToImage.from_pretrained(full).eval()
    assert type(model).__name__ == "ToyFamilyForColorization"
    recipe.COLORIZED.clear()
    paths = sorted(image_folder.glob("*.png"))
    scores = evaluate_folder(
        {"grey": grey, "toy": model_method(model)}, paths, "images", counts={"grey": [0], "toy": [0]}
    )
    assert sum(recipe.COLORIZED) == len(paths)
    assert scores["toy"]["0"]["psnr"] != scores["grey"]["0"]["psnr"]  # the model's own colours, not grey
    assert len(scores["toy"]["0"]["per_image_psnr"]) == len(paths)


def test_a_registered_family_without_a_recipe_is_not_offered(toy_family):
    (Path(sys.modules["toy_family"].__file__).parent / "training_toy_family.py").unlink()
    importlib.invalidate_caches()
    assert training_family("toy_family") is None and training_family("not_registered") is None
    assert "toy_family" not in training_families()


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


SHARED_MODULES = sorted(
    [*(PACKAGE / "training").glob("*.py"), *(PACKAGE / "evaluation").glob("*.py")]
    + [
        PACKAGE / f"{name}.py"
        for name in (
            "color", "filters", "hints", "image_processing", "images", "modeling_utils", "pipeline", "profiling",
            "propagation", "rebalancing", "saliency",
        )
    ]
)  # fmt: skip
"""The layers every family shares, which must name none: the trainer and its data, pairs, recipes and checkpoints,
the benchmark protocol and its metrics, the core that models build on (colour, hints, filters, propagation, images,
the image-processor and modeling base code, rebalancing, saliency, profiling), and the pipeline, which reaches a
family through its registered classes and their traits. Left out on purpose: ``__init__.py``, whose registration
lines are the one place a family is named; ``bundled.py``, which lists the shipped weights by variant name (the
default, ``dlsa-tiny``); and the user-facing layers (``cli.py``, ``export.py``, ``video.py``,
``dataset_colorization.py``), whose help texts name the default model and what a family cannot do."""


def family_names() -> set[str]:
    """Each family folder's model type, written with ``_``, ``-`` or nothing between its words, and the stem of its
    class names (``AxialExemplar`` of ``AxialExemplarConfig``), all lower case."""
    names = set()
    for folder in MODELS.iterdir():
        if (folder / f"configuration_{folder.name}.py").is_file():
            names |= {folder.name, folder.name.replace("_", "-"), folder.name.replace("_", "")}
            names.add(REGISTERED_FAMILIES[folder.name].config.__name__.removesuffix("Config").lower())
    return names


def test_the_shared_modules_name_no_family():
    names = family_names()
    assert {"dlsa", "smsanet", "axial_exemplar", "cartoon-coltran", "axialexemplar"} <= names
    pattern = re.compile("|".join(sorted(map(re.escape, names), key=len, reverse=True)), re.IGNORECASE)
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in SHARED_MODULES
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, "\n".join(found)
