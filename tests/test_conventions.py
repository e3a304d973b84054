"""The transformers conventions every family keeps (issue 22): what big-model loading, accelerate and transformers'
own tools rely on."""

import ast
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_axial_exemplar_config, tiny_cartoon_config, tiny_config, tiny_smsanet_config
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForImageToImage, PretrainedConfig, PreTrainedModel

import hf_colorize
from hf_colorize import (
    AxialExemplarForColorization,
    AxialExemplarImageProcessor,
    AxialExemplarModel,
    CartoonColtranForColorization,
    CartoonColtranImageProcessor,
    CartoonColtranModel,
    DlsaForColorization,
    DlsaImageProcessor,
    DlsaModel,
    SmsanetForColorization,
    SmsanetImageProcessor,
    SmsanetModel,
)
from hf_colorize.image_processing import ColorizationImageProcessor
from hf_colorize.images import InvalidImageError


@dataclass
class Family:
    config: Callable[[], PretrainedConfig]
    classes: tuple[type[PreTrainedModel], type[PreTrainedModel]]
    inputs: Callable[[], dict[str, torch.Tensor]]
    """One forward's inputs for both classes (the cartoon family's stage 1, teacher-forced)."""
    attention_layers: int = 0
    """How many attention layers the tiny config has (each returns its weights)."""


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


FAMILIES = {
    "dlsa": Family(
        tiny_config,
        (DlsaModel, DlsaForColorization),
        lambda: {"pixel_values": randn(2, 4, 64, 64)},
        attention_layers=3 * 4,  # WSA, SWSA and FWSA in each of the four blocks
    ),
    "smsanet": Family(
        tiny_smsanet_config, (SmsanetModel, SmsanetForColorization), lambda: {"pixel_values": randn(2, 1, 64, 64)}
    ),
    "axial_exemplar": Family(
        tiny_axial_exemplar_config,
        (AxialExemplarModel, AxialExemplarForColorization),
        lambda: {"pixel_values": randn(2, 1, 64, 64), "reference_values": randn(2, 3, 64, 64) * 0.3},
        attention_layers=2 * 3,  # height and width attention at levels 3, 4 and 5
    ),
    "cartoon_coltran": Family(
        tiny_cartoon_config,
        (CartoonColtranModel, CartoonColtranForColorization),
        lambda: {"pixel_values": randn(2, 1, 32, 32), "color_labels": torch.arange(128).view(2, 8, 8)},
        attention_layers=2 + 2 + 1,  # the encoder's row and column, the outer decoder's, the inner decoder's row
    ),
}

MODEL_CLASSES = [
    pytest.param(family, model_class, id=model_class.__name__)
    for family in FAMILIES.values()
    for model_class in family.classes
]


@pytest.mark.parametrize(("family", "model_class"), MODEL_CLASSES)
def test_builds_on_the_meta_device(family: Family, model_class: type[PreTrainedModel]):
    with torch.device("meta"):
        model = model_class(family.config())
    assert {tensor.device.type for tensor in model.state_dict().values()} == {"meta"}


@pytest.mark.parametrize(("family", "model_class"), MODEL_CLASSES)
def test_init_weights_initialises_buffers(family: Family, model_class: type[PreTrainedModel]):
    """Built on the meta device, moved to empty CPU memory and initialised, a model has the buffers of one built
    directly (BatchNorm's running statistics) and runs."""
    expected = dict(model_class(family.config()).named_buffers())
    with torch.device("meta"):
        model = model_class(family.config())
    model.to_empty(device="cpu").init_weights()
    buffers = dict(model.named_buffers())
    assert buffers.keys() == expected.keys()
    for name, buffer in buffers.items():
        assert torch.equal(buffer, expected[name]), name
    model.eval()(**family.inputs())


@pytest.mark.parametrize("family", [FAMILIES["smsanet"], FAMILIES["axial_exemplar"]], ids=["smsanet", "axial"])
def test_loading_keeps_saved_running_statistics(family: Family, tmp_path):
    model = family.classes[1](family.config())
    norms = [module for module in model.modules() if isinstance(module, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.running_mean.fill_(0.5)
        norm.num_batches_tracked.fill_(7)
    model.save_pretrained(tmp_path)
    loaded = family.classes[1].from_pretrained(tmp_path)
    loaded_norms = [module for module in loaded.modules() if isinstance(module, torch.nn.BatchNorm2d)]
    assert all((norm.running_mean == 0.5).all() and norm.num_batches_tracked == 7 for norm in loaded_norms)


def flatten(values) -> list[torch.Tensor]:
    """The tensors of a (nested) tuple output, in order."""
    if isinstance(values, torch.Tensor):
        return [values]
    return [tensor for value in values for tensor in flatten(value)]


@pytest.mark.parametrize(("family", "model_class"), MODEL_CLASSES)
def test_config_output_hidden_states_and_return_dict_are_the_defaults(
    family: Family, model_class: type[PreTrainedModel]
):
    config = family.config()
    config.output_hidden_states, config.return_dict = True, False
    model = model_class(config).eval()
    with torch.no_grad():
        from_config = model(**family.inputs())
        as_output = model(**family.inputs(), return_dict=True)
        without_states = model(**family.inputs(), output_hidden_states=False, return_dict=True)
    assert isinstance(from_config, tuple)
    assert len(as_output.hidden_states) > 1 and without_states.hidden_states is None
    expected = flatten(as_output.to_tuple())
    assert len(flatten(from_config)) == len(expected)
    for tensor, expected_tensor in zip(flatten(from_config), expected):
        torch.testing.assert_close(tensor, expected_tensor)


ATTENTION_CLASSES = [param for param in MODEL_CLASSES if param.values[0].attention_layers]


@pytest.mark.parametrize(("family", "model_class"), ATTENTION_CLASSES)
def test_attention_weights_are_returned_on_request(family: Family, model_class: type[PreTrainedModel], monkeypatch):
    """``output_attentions`` (or ``config.output_attentions``) returns every attention layer's weights, computed
    step by step to the fused kernel's result; without it the fused kernel runs and nothing is kept."""
    fused_calls = []
    fused_kernel = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(
        torch.nn.functional,
        "scaled_dot_product_attention",
        lambda *args, **kwargs: fused_calls.append(1) or fused_kernel(*args, **kwargs),
    )
    model = model_class(family.config()).eval()
    with torch.no_grad():
        fast = model(**family.inputs())
        uses_fused_kernel = bool(fused_calls)
        fused_calls.clear()
        weighed = model(**family.inputs(), output_attentions=True)
        model.config.output_attentions = True
        from_config = model(**family.inputs())
    assert fast.attentions is None and not fused_calls
    assert uses_fused_kernel == (family is not FAMILIES["axial_exemplar"])  # its relative positions need eager
    assert len(weighed.attentions) == len(from_config.attentions) == family.attention_layers
    for weights in weighed.attentions:
        assert weights.ndim == 4 and weights.shape[-1] == weights.shape[-2]
        torch.testing.assert_close(weights.sum(dim=-1), torch.ones(weights.shape[:-1]))
    expected = flatten(fast.to_tuple())  # every output but the attentions, which come last
    for tensor, expected_tensor in zip(flatten(weighed.to_tuple()), expected, strict=False):
        torch.testing.assert_close(tensor, expected_tensor, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(("family", "model_class"), MODEL_CLASSES)
def test_gradients_reach_the_returned_hidden_states_and_attentions(family: Family, model_class: type[PreTrainedModel]):
    """As in transformers' models, the returned tensors are the ones the model computed with (for saliency maps)."""
    requests = {"output_attentions": True} if family.attention_layers else {}
    outputs = model_class(family.config())(**family.inputs(), output_hidden_states=True, **requests)
    returned = [*outputs.hidden_states, *(getattr(outputs, "attentions", None) or ())]
    for tensor in returned:
        tensor.retain_grad()
    outputs.to_tuple()[0].sum().backward()
    assert all(tensor.grad is not None for tensor in returned)


SIZE = {"height": 32, "width": 32}
PROCESSORS = [
    DlsaImageProcessor(size=SIZE),
    SmsanetImageProcessor(size=SIZE),
    AxialExemplarImageProcessor(size=SIZE),
    CartoonColtranImageProcessor(size=SIZE),
]


def needed_request(processor: ColorizationImageProcessor, reference: Image.Image) -> dict:
    """What a processor cannot do without: the exemplar family's colour reference."""
    return {"reference": reference} if isinstance(processor, AxialExemplarImageProcessor) else {}


@pytest.mark.parametrize("processor", PROCESSORS, ids=lambda processor: type(processor).__name__)
def test_processors_take_torch_tensors(processor: ColorizationImageProcessor, color_image: Image.Image):
    """``(C, H, W)`` tensors in [0, 1] or [0, 255] and ``(B, C, H, W)`` batches, as transformers' processors."""
    request = needed_request(processor, color_image)
    expected = processor(color_image, **request)
    rgb = torch.from_numpy(np.array(color_image)).permute(2, 0, 1)  # uint8, (3, H, W)
    for tensor in (rgb, rgb.float(), rgb / 255, rgb.double() / 255):
        inputs = processor(tensor, **request)
        torch.testing.assert_close(inputs["pixel_values"], expected["pixel_values"])
        torch.testing.assert_close(inputs["lightness"], expected["lightness"])
    batch = processor(torch.stack([rgb, rgb]) / 255, **request)
    torch.testing.assert_close(batch["pixel_values"], expected["pixel_values"].expand(2, -1, -1, -1))
    grey = np.array(color_image.convert("L"))
    torch.testing.assert_close(
        processor(torch.from_numpy(grey)[None], **request)["pixel_values"], processor(grey, **request)["pixel_values"]
    )


def test_a_colour_reference_may_be_a_tensor(color_image: Image.Image):
    processor = AxialExemplarImageProcessor(size=SIZE)
    rgb = torch.from_numpy(np.array(color_image)).permute(2, 0, 1) / 255
    expected = processor(color_image, reference=color_image)["reference_values"]
    torch.testing.assert_close(processor(color_image, reference=rgb)["reference_values"], expected)
    references = processor([color_image] * 2, reference=torch.stack([rgb, rgb]))["reference_values"]
    torch.testing.assert_close(references, expected.expand(2, -1, -1, -1))


@pytest.mark.parametrize(
    ("tensor", "problem"),
    [
        (torch.zeros(2, 16, 16), r"must be \(C, H, W\).*got \(2, 16, 16\)"),
        (torch.zeros(16, 16), r"got \(16, 16\)"),
        (torch.full((3, 8, 8), 300), r"values in \[0, 255\]"),
    ],
)
def test_a_tensor_that_is_not_an_image_is_refused(tensor: torch.Tensor, problem: str):
    with pytest.raises(InvalidImageError, match=problem):
        SmsanetImageProcessor(size=SIZE)(tensor)


@pytest.mark.parametrize(
    ("processor", "misspelt", "message"),
    [
        (DlsaImageProcessor(size=SIZE), "hint", "hint: DlsaImageProcessor takes images, hints, return_tensors"),
        (AxialExemplarImageProcessor(size=SIZE), "refrence", "refrence: .* takes images, reference, return_tensors"),
        (SmsanetImageProcessor(size=SIZE), "hints", "hints: SmsanetImageProcessor takes images, return_tensors"),
    ],
)
def test_processors_refuse_unknown_keywords(
    processor: ColorizationImageProcessor, misspelt: str, message: str, color_image: Image.Image
):
    request = needed_request(processor, color_image)
    with pytest.raises(TypeError, match=f"unknown argument\\(s\\) {message}"):
        processor(color_image, **request, **{misspelt: [(1, 1, "#ff0000")]})
    with pytest.raises(TypeError, match=misspelt):
        processor.preprocess(color_image, **request, **{misspelt: None})
    assert processor(color_image, return_tensors="pt", **request)["pixel_values"].shape[-2:] == (32, 32)
    with pytest.raises(ValueError, match="return_tensors='pt', not 'np'"):
        processor(color_image, return_tensors="np", **request)


PACKAGE = Path(__file__).parent.parent / "src" / "hf_colorize"
MODELING_FILES = sorted((PACKAGE / "models").glob("*/modeling_*.py"))
TRAINING_FILES = sorted((PACKAGE / "training").rglob("*.py")) + sorted((PACKAGE / "models").glob("*/training_*.py"))
"""The training code: the trainer and each family's recipe."""


def defined_names(tree: ast.Module) -> set[str]:
    """The public functions, classes and methods a module defines, less the methods that override ``nn.Module`` or
    ``PreTrainedModel`` (``forward``, ``get_input_embeddings``, ...), which the framework calls by name."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            names.add(node.name)
    return {name for name in names if not hasattr(PreTrainedModel, name)}


@functools.cache
def used_names(path: Path) -> frozenset[str]:
    """The names ``path`` uses in its code (as names or attributes; imports and definitions do not count)."""
    tree = ast.parse(path.read_text())
    return frozenset(
        node.id if isinstance(node, ast.Name) else node.attr
        for node in ast.walk(tree)
        if isinstance(node, (ast.Name, ast.Attribute))
    )


@pytest.mark.parametrize("path", MODELING_FILES, ids=lambda path: path.name)
def test_modeling_files_hold_no_training_code(path: Path):
    """A model knows nothing of training: it imports no training module, and nothing it defines serves the training
    code alone (a discriminator, a loss or a pair descriptor only the trainer calls belongs to the family's recipe,
    ``training_<family>.py``, or to ``hf_colorize.training``)."""
    tree = ast.parse(path.read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [module for module in imported if "training" in module.split(".")]
    outside_training = [other for other in PACKAGE.rglob("*.py") if other not in TRAINING_FILES]
    training_only = [
        name
        for name in sorted(defined_names(tree))
        if any(name in used_names(training) for training in TRAINING_FILES)
        and not any(name in used_names(other) for other in outside_training)
    ]
    assert not training_only, f"{path.name} defines what only the training code uses: {training_only}"


@pytest.mark.parametrize("name", sorted(hf_colorize.BUNDLED_MODELS))
def test_bundled_models_load_strictly(name: str):
    """The shipped weights match the classes exactly: no missing, unexpected or misshapen tensor."""
    folder = Path(hf_colorize.BUNDLED_MODELS[name])
    model, info = AutoModelForImageToImage.from_pretrained(folder, output_loading_info=True)
    assert info == {"missing_keys": set(), "unexpected_keys": set(), "mismatched_keys": set(), "error_msgs": []}
    saved = load_file(folder / "model.safetensors")
    assert saved.keys() == model.state_dict().keys()
    assert all(saved[key].shape == tensor.shape for key, tensor in model.state_dict().items())
