"""The transformers conventions every family keeps (issue 22): what big-model loading, accelerate and transformers'
own tools rely on."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from conftest import tiny_axial_exemplar_config, tiny_cartoon_config, tiny_config, tiny_smsanet_config
from transformers import PretrainedConfig, PreTrainedModel

from hf_colorize import (
    AxialExemplarForColorization,
    AxialExemplarModel,
    CartoonColtranForColorization,
    CartoonColtranModel,
    DlsaForColorization,
    DlsaModel,
    SmsanetForColorization,
    SmsanetModel,
)


@dataclass
class Family:
    config: Callable[[], PretrainedConfig]
    classes: tuple[type[PreTrainedModel], type[PreTrainedModel]]
    inputs: Callable[[], dict[str, torch.Tensor]]
    """One forward's inputs for both classes (the cartoon family's stage 1, teacher-forced)."""


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


FAMILIES = {
    "dlsa": Family(tiny_config, (DlsaModel, DlsaForColorization), lambda: {"pixel_values": randn(2, 4, 64, 64)}),
    "smsanet": Family(
        tiny_smsanet_config, (SmsanetModel, SmsanetForColorization), lambda: {"pixel_values": randn(2, 1, 64, 64)}
    ),
    "axial_exemplar": Family(
        tiny_axial_exemplar_config,
        (AxialExemplarModel, AxialExemplarForColorization),
        lambda: {"pixel_values": randn(2, 1, 64, 64), "reference_values": randn(2, 3, 64, 64) * 0.3},
    ),
    "cartoon_coltran": Family(
        tiny_cartoon_config,
        (CartoonColtranModel, CartoonColtranForColorization),
        lambda: {"pixel_values": randn(2, 1, 32, 32), "color_labels": torch.arange(128).view(2, 8, 8)},
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
