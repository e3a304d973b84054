"""Gradient checkpointing in every family: with it on, the loss and every gradient equal those with it off, and the
layers it names are indeed recomputed in the backward pass."""

from collections.abc import Callable

import pytest
import torch
from conftest import (
    tiny_axial_exemplar_config,
    tiny_cartoon_config,
    tiny_config,
    tiny_smsanet_backbone_config,
    tiny_smsanet_config,
)
from transformers import PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer

from hf_colorize import (
    AxialExemplarForColorization,
    CartoonColtranForColorization,
    DlsaForColorization,
    SmsanetForColorization,
)


def random_inputs(batch: int = 2, size: int = 64, **channels: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    inputs = {
        name: torch.rand(batch, depth, size, size, generator=generator) * 2 - 1 for name, depth in channels.items()
    }
    inputs["labels"] = torch.randn(batch, 2, size, size, generator=generator).clamp(-2, 2) * 0.3
    return inputs


def dlsa_case() -> tuple[PreTrainedModel, dict[str, torch.Tensor]]:
    config = tiny_config(drop_path_rate=0.2, hidden_dropout_prob=0.1)  # random layers: the replay must draw the same
    return DlsaForColorization(config), random_inputs(pixel_values=4)


def smsanet_case() -> tuple[PreTrainedModel, dict[str, torch.Tensor]]:
    return SmsanetForColorization(tiny_smsanet_config()), random_inputs(pixel_values=1)


def smsanet_backbone_case() -> tuple[PreTrainedModel, dict[str, torch.Tensor]]:
    return SmsanetForColorization(tiny_smsanet_backbone_config()), random_inputs(pixel_values=1)


def axial_exemplar_case() -> tuple[PreTrainedModel, dict[str, torch.Tensor]]:
    return AxialExemplarForColorization(tiny_axial_exemplar_config()), random_inputs(pixel_values=1, reference_values=3)


def cartoon_colorizer_case() -> tuple[PreTrainedModel, dict[str, torch.Tensor]]:
    inputs = random_inputs(size=32, pixel_values=1)
    del inputs["labels"]
    inputs["color_labels"] = torch.randint(0, 512, (2, 8, 8), generator=torch.Generator().manual_seed(4))
    return CartoonColtranForColorization(tiny_cartoon_config()), inputs


def cartoon_upgrader_case() -> tuple[PreTrainedModel, dict[str, torch.Tensor]]:
    inputs = random_inputs(size=32, pixel_values=1)
    inputs["coarse_colors"] = torch.randint(0, 512, (2, 8, 8), generator=torch.Generator().manual_seed(4))
    return CartoonColtranForColorization(tiny_cartoon_config()), inputs


def loss_and_gradients(model: PreTrainedModel, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    model.zero_grad()
    torch.manual_seed(5)  # the same dropout and drop-path draws for both runs
    loss = model(**inputs).loss
    loss.backward()
    gradients = {
        name: parameter.grad.clone() for name, parameter in model.named_parameters() if parameter.grad is not None
    }
    return {"loss": loss.detach(), **gradients}


@pytest.mark.parametrize(
    "make_case",
    [
        dlsa_case,
        smsanet_case,
        smsanet_backbone_case,
        axial_exemplar_case,
        cartoon_colorizer_case,
        cartoon_upgrader_case,
    ],
)
def test_checkpointed_loss_and_gradients_equal_plain_ones(
    make_case: Callable[[], tuple[PreTrainedModel, dict[str, torch.Tensor]]], checkpoint_replays: list
):
    torch.manual_seed(0)
    model, inputs = make_case()
    model.train()
    for parameter in model.parameters():  # away from the zero-initialised heads, so that every gradient flows
        parameter.data += 0.02 * torch.randn_like(parameter)
    assert model.supports_gradient_checkpointing
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    plain = loss_and_gradients(model, inputs)
    model.load_state_dict(state)  # batch-norm statistics as before the first run

    model.activation_checkpointing_enable()  # transformers 5's name for gradient_checkpointing_enable
    assert model.is_activation_checkpointing
    layers = [module for module in model.modules() if isinstance(module, GradientCheckpointingLayer)]
    assert layers and all(layer.gradient_checkpointing for layer in layers)
    checkpointed = loss_and_gradients(model, inputs)
    assert checkpoint_replays, "no layer ran under torch.utils.checkpoint"
    assert plain.keys() == checkpointed.keys() and len(plain) > 1
    for name, value in plain.items():
        torch.testing.assert_close(checkpointed[name], value, rtol=1e-4, atol=1e-6, msg=name)


def test_checkpointing_is_off_in_evaluation_and_without_gradients():
    torch.manual_seed(0)
    model, inputs = dlsa_case()
    model.activation_checkpointing_enable()
    model.eval()
    with torch.no_grad():
        evaluated = model(**inputs).ab
    model.activation_checkpointing_disable()
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).ab, evaluated, rtol=0, atol=0)
