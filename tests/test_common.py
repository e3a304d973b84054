"""What transformers' common model and image-processor tests ask of every family, as our own tests: the input
embeddings, batched outputs equal to one-by-one ones, and the standard image-processor keywords."""

from collections.abc import Callable

import numpy as np
import pytest
import torch
from conftest import (
    tiny_axial_exemplar_backbone_config,
    tiny_axial_exemplar_config,
    tiny_cartoon_config,
    tiny_config,
    tiny_dlsa_backbone_config,
    tiny_smsanet_backbone_config,
    tiny_smsanet_config,
)
from PIL import Image
from torch import nn
from transformers import PreTrainedModel

from hf_colorize import (
    AxialExemplarForColorization,
    AxialExemplarImageProcessor,
    CartoonColtranForColorization,
    CartoonColtranImageProcessor,
    DlsaForColorization,
    DlsaImageProcessor,
    SmsanetForColorization,
    SmsanetImageProcessor,
)
from hf_colorize.color import normalize_lightness
from hf_colorize.images import load_lightness


def image_inputs(batch: int, size: int, **channels: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    return {name: torch.rand(batch, depth, size, size, generator=generator) * 2 - 1 for name, depth in channels.items()}


def cartoon_inputs(batch: int) -> dict[str, torch.Tensor]:
    colors = torch.randint(0, 512, (batch, 8, 8), generator=torch.Generator().manual_seed(3))
    return {**image_inputs(batch, 32, pixel_values=1), "coarse_colors": colors}


FAMILIES: dict[str, tuple[Callable[[], PreTrainedModel], Callable[[int], dict[str, torch.Tensor]]]] = {
    "dlsa": (lambda: DlsaForColorization(tiny_config()), lambda batch: image_inputs(batch, 64, pixel_values=4)),
    "dlsa-backbone": (
        lambda: DlsaForColorization(tiny_dlsa_backbone_config()),
        lambda batch: image_inputs(batch, 64, pixel_values=4),
    ),
    "smsanet": (
        lambda: SmsanetForColorization(tiny_smsanet_config()),
        lambda batch: image_inputs(batch, 64, pixel_values=1),
    ),
    "smsanet-backbone": (
        lambda: SmsanetForColorization(tiny_smsanet_backbone_config()),
        lambda batch: image_inputs(batch, 64, pixel_values=1),
    ),
    "axial_exemplar": (
        lambda: AxialExemplarForColorization(tiny_axial_exemplar_config()),
        lambda batch: image_inputs(batch, 64, pixel_values=1, reference_values=3),
    ),
    "axial_exemplar-backbone": (
        lambda: AxialExemplarForColorization(tiny_axial_exemplar_backbone_config()),
        lambda batch: image_inputs(batch, 64, pixel_values=1, reference_values=3),
    ),
    "cartoon_coltran": (lambda: CartoonColtranForColorization(tiny_cartoon_config()), cartoon_inputs),
}
"""Each family's tiny model and its inputs for a batch."""


def tiny_model(family: str) -> PreTrainedModel:
    torch.manual_seed(0)
    model = FAMILIES[family][0]().eval()
    for parameter in model.parameters():  # away from the zero-initialised heads, which would make every output grey
        parameter.data += 0.05 * torch.randn_like(parameter)
    return model


@pytest.mark.parametrize("family", FAMILIES)
def test_input_embeddings_are_the_first_layer_that_reads_the_input(family):
    model = tiny_model(family)
    embeddings = model.get_input_embeddings()
    assert embeddings is model.base_model.get_input_embeddings()
    assert isinstance(embeddings, (nn.Conv2d, nn.Linear)) and any(True for _ in embeddings.parameters())
    called = []
    handles = [
        module.register_forward_hook(lambda module, inputs, output: called.append(module))
        for module in model.modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    inputs = FAMILIES[family][1](1)
    if "coarse_colors" in inputs:  # the cartoon family's base model is stage 1, which reads colours as labels
        inputs["color_labels"] = inputs.pop("coarse_colors")
    with torch.no_grad():
        model.base_model(**inputs)
    for handle in handles:
        handle.remove()
    assert called[0] is embeddings


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_outputs_equal_one_by_one_outputs(family):
    # In float64: float32 kernels may sum in another order for another batch size (an AMD EPYC gave differences of
    # 1e-4 for axial_exemplar), which would hide or fake a leak between the batch's images; in float64 it is ~1e-14.
    model = tiny_model(family).double()
    inputs = {
        name: value.double() if value.is_floating_point() else value for name, value in FAMILIES[family][1](3).items()
    }
    with torch.no_grad():
        batched = model(**inputs).ab
        one_by_one = torch.cat(
            [model(**{name: value[i : i + 1] for name, value in inputs.items()}).ab for i in range(3)]
        )
    assert batched.abs().max() > 1e-3  # not a grey output, which any batching would give alike
    torch.testing.assert_close(batched, one_by_one, rtol=0, atol=1e-10)


PROCESSORS = {
    "dlsa": (DlsaImageProcessor, {}),
    "smsanet": (SmsanetImageProcessor, {}),
    "axial_exemplar": (AxialExemplarImageProcessor, {"reference": "color"}),
    "cartoon_coltran": (CartoonColtranImageProcessor, {}),
}


def process(family: str, image, color_image: Image.Image, **keywords) -> torch.Tensor:
    processor_class, request = PROCESSORS[family]
    processor = processor_class(size={"height": 32, "width": 32})
    request = {name: color_image for name in request}
    return processor(image, **request, **keywords)["pixel_values"]


@pytest.mark.parametrize("family", PROCESSORS)
def test_processors_take_the_standard_keywords(family, color_image):
    plain = process(family, color_image, color_image)
    for keywords in ({"do_convert_rgb": True}, {"do_convert_rgb": False}, {"input_data_format": "channels_last"}):
        assert torch.equal(process(family, color_image, color_image, **keywords), plain), keywords
    # The lightness channel is (L / 100 - mean) / std: mean 0.5 and std 0.5 give the model's own [-1, 1] exactly.
    for mean, std in ((0.5, 0.5), ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])):
        assert torch.equal(process(family, color_image, color_image, image_mean=mean, image_std=std), plain)
    unit = process(family, color_image, color_image, image_mean=0.0, image_std=1.0)
    torch.testing.assert_close(unit[:, 0], (plain[:, 0] + 1) / 2)
    assert torch.equal(unit[:, 1:], plain[:, 1:])  # hints and the like keep their encoding
    with pytest.raises(ValueError, match=r"image_mean must be one value for the lightness channel.*\[0.4, 0.5, 0.6\]"):
        process(family, color_image, color_image, image_mean=[0.4, 0.5, 0.6])
    with pytest.raises(ValueError, match="image_std must be positive"):
        process(family, color_image, color_image, image_std=0)
    with pytest.raises(TypeError, match="unknown argument.*do_convert_rbg"):
        process(family, color_image, color_image, do_convert_rbg=True)


@pytest.mark.parametrize("family", PROCESSORS)
def test_input_data_format_places_the_channels(family, color_image):
    plain = process(family, color_image, color_image)
    array = np.asarray(color_image)  # (H, W, 3)
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1)  # (3, H, W)
    assert torch.equal(
        process(family, array.transpose(2, 0, 1), color_image, input_data_format="channels_first"), plain
    )
    assert torch.equal(process(family, tensor, color_image, input_data_format="channels_first"), plain)
    assert torch.equal(process(family, tensor.permute(1, 2, 0), color_image, input_data_format="channels_last"), plain)
    batch = process(family, [tensor.permute(1, 2, 0)] * 2, color_image, input_data_format="channels_last")
    assert torch.equal(batch, torch.cat([plain, plain]))
    with pytest.raises(ValueError, match="channels_middle"):
        process(family, color_image, color_image, input_data_format="channels_middle")


def test_processor_normalisation_is_saved_and_loaded(tmp_path, color_image):
    processor = SmsanetImageProcessor(size={"height": 32, "width": 32}, image_mean=0.0, image_std=[1.0])
    processor.save_pretrained(tmp_path)
    loaded = SmsanetImageProcessor.from_pretrained(tmp_path)
    assert loaded.image_mean == [0.0] and loaded.image_std == [1.0]
    expected = load_lightness(color_image)[None] / 100
    expected = nn.functional.interpolate(expected, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
    torch.testing.assert_close(loaded(color_image)["pixel_values"], expected)
    default = SmsanetImageProcessor(size={"height": 32, "width": 32})(color_image)["pixel_values"]
    torch.testing.assert_close(default, normalize_lightness(expected * 100))
