from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_axial_exemplar_backbone_config, tiny_axial_exemplar_config
from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageToImage, pipeline

from hf_colorize import (
    AxialExemplarConfig,
    AxialExemplarForColorization,
    AxialExemplarImageProcessor,
    AxialExemplarModel,
)
from hf_colorize.color import rgb_to_lab
from hf_colorize.images import InvalidImageError, load_lightness, load_rgb
from hf_colorize.models.axial_exemplar.modeling_axial_exemplar import (
    AxialExemplarAxialAttention,
    AxialExemplarVgg19,
    histogram_loss,
    load_vgg19_from_hub,
    pyramid,
    relative_index,
    soft_ab_histogram,
    total_variation_loss,
    warp_reference_ab,
)
from hf_colorize.models.axial_exemplar.training_axial_exemplar import AxialExemplarDiscriminator, pyramid_lab


def random_batch(height: int = 48, width: int = 80) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    lightness = torch.rand(2, 1, height, width, generator=generator) * 2 - 1
    reference = torch.cat([lightness, torch.randn(2, 2, height, width, generator=generator) * 0.3], dim=1)
    labels = torch.randn(2, 2, height, width, generator=generator).clamp(-3, 3) * 0.3
    return lightness, reference, labels


def test_forward_shapes_on_a_non_square_input_and_gradients():
    model = AxialExemplarForColorization(tiny_axial_exemplar_config())
    lightness, reference, labels = random_batch()
    output = model(lightness, reference, labels=labels)
    assert [tuple(ab.shape) for ab in output.pyramid_ab] == [
        (2, 2, 48, 80),
        (2, 2, 24, 40),
        (2, 2, 12, 20),
        (2, 2, 6, 10),
    ]
    assert output.ab is output.pyramid_ab[0] and output.loss.ndim == 0
    assert not output.ab.any()  # the prediction heads start from grey
    output.loss.backward()
    assert all(parameter.grad is not None for parameter in model.parameters())


def test_on_a_pretrained_backbone_levels_start_at_stride_2_and_the_output_is_full_size(tmp_path):
    config = tiny_axial_exemplar_backbone_config()
    assert config.level_strides == [2, 4, 8, 16, 32] and config.stride == 32
    model = AxialExemplarForColorization(config)
    assert model.axial_exemplar.target_projections[0][0].in_channels == 8  # the backbone's stage1
    lightness, reference, labels = random_batch(height=64, width=96)
    output = model(lightness, reference, labels=labels)
    assert [tuple(ab.shape) for ab in output.pyramid_ab] == [
        (2, 2, 32 // 2**level, 48 // 2**level) for level in range(4)
    ]
    assert output.ab.shape == (2, 2, 64, 96) and output.loss.ndim == 0
    output.loss.backward()
    assert all(parameter.grad is not None for parameter in model.parameters())
    model.eval().heads[0][-1].weight.data.normal_()  # the heads start at zero (grey); give them something to save
    with torch.no_grad():
        ab = model(lightness, reference).ab
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForImageToImage.from_pretrained(tmp_path).eval()
    assert reloaded.config.backbone_config.model_type == "efficientnet_lite"
    with torch.no_grad():
        assert torch.equal(reloaded(lightness, reference).ab, ab)


def test_the_correspondence_moves_each_reference_colour_to_its_best_match():
    generator = torch.Generator().manual_seed(0)
    reference_features = torch.nn.functional.normalize(torch.randn(1, 16, 4, 4, generator=generator), dim=1)
    target_features = reference_features.flip(-1)  # the target is the reference mirrored
    reference_ab = torch.rand(1, 2, 8, 8, generator=generator) * 2 - 1
    warped = warp_reference_ab(target_features, reference_features, reference_ab, temperature=1e-3)
    pooled = torch.nn.functional.avg_pool2d(reference_ab, 2)
    assert torch.allclose(warped, pooled.flip(-1), atol=1e-4)
    averaged = warp_reference_ab(target_features, reference_features, reference_ab, temperature=1e3)
    assert torch.allclose(averaged, pooled.mean(dim=(-2, -1), keepdim=True).expand_as(pooled), atol=1e-3)


def test_with_a_correspondence_the_untrained_heads_return_the_warped_reference_colours():
    config = tiny_axial_exemplar_backbone_config(correspondence_levels=[3, 4])
    model = AxialExemplarForColorization(config).eval()
    lightness, reference, labels = random_batch(height=64, width=96)
    with torch.no_grad():
        output = model(lightness, reference, labels=labels)
        warped = model.axial_exemplar(lightness, reference).warped_ab
    assert warped.shape == (2, 2, 8, 12)  # level 3's grid (stride 8)
    assert warped.abs().sum() > 0 and output.loss.ndim == 0
    for ab in output.pyramid_ab:  # the heads start at zero: every level is the warp, resized
        expected = torch.nn.functional.interpolate(warped, size=ab.shape[-2:], mode="bilinear", align_corners=False)
        assert torch.allclose(ab, expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"correspondence_levels \[6\] must be backbone levels 1-5"):
        tiny_axial_exemplar_backbone_config(correspondence_levels=[6])


def test_a_backbone_that_does_not_double_its_stride_is_refused():
    backbone = {"model_type": "efficientnet_lite", "out_features": ["stage1", "stage2", "stage4", "stage5", "stage7"]}
    with pytest.raises(ValueError, match="double the stride"):
        tiny_axial_exemplar_config(backbone_config=backbone)


def test_hidden_states_are_each_levels_fused_features():
    model = AxialExemplarForColorization(tiny_axial_exemplar_config()).eval()
    body, features = model.axial_exemplar, {}
    for level, projection in enumerate(body.target_projections, 1):  # the target's own features ...
        projection.register_forward_hook(lambda module, args, output, level=level: features.setdefault(level, output))
    for level, attention in body.attention.items():  # ... replaced by the fusion where there is attention
        attention.register_forward_hook(lambda module, args, output, level=int(level): features.update({level: output}))
    lightness, reference, _ = random_batch()
    with torch.no_grad():
        hidden_states = model(lightness, reference, output_hidden_states=True).hidden_states
    assert [tuple(state.shape) for state in hidden_states] == [
        (2, 16, 48 // 2**level, 80 // 2**level) for level in range(5)
    ]
    assert model.config.attention_levels == [3, 4, 5]
    for level, state in enumerate(hidden_states, 1):
        assert torch.equal(state, features[level])


def test_attention_weights_of_each_axis_and_level():
    model = AxialExemplarModel(tiny_axial_exemplar_config()).eval()
    lightness, reference, _ = random_batch()  # 48x80: levels 3, 4, 5 are 12x20, 6x10, 3x5
    with torch.no_grad():
        attentions = model(lightness, reference, output_attentions=True).attentions
    sides = [(12, 20), (6, 10), (3, 5)]
    expected = [shape for h, w in sides for shape in ((2 * w, 4, h, h), (2 * h, 4, w, w))]  # height, then width
    assert [tuple(weights.shape) for weights in attentions] == expected


def test_discriminator_judges_each_level_of_the_pyramid():
    config = tiny_axial_exemplar_config(discriminator_hidden_size=4, discriminator_layers=2)
    lightness, _, labels = random_batch(height=64, width=64)
    predictions = tuple(torch.zeros(2, 2, 64 // 2**level, 64 // 2**level) for level in range(4))
    images = pyramid_lab(lightness, tuple(pyramid(labels, predictions)))
    assert [tuple(image.shape) for image in images] == [(2, 3, 64 // 2**level, 64 // 2**level) for level in range(4)]
    logits = AxialExemplarDiscriminator(config)(images)
    assert [tuple(scale.shape) for scale in logits] == [(2, 1, 16 // 2**level, 16 // 2**level) for level in range(4)]


def test_axial_attention_shapes_and_reach():
    config = tiny_axial_exemplar_config()
    torch.manual_seed(0)
    height_attention = AxialExemplarAxialAttention(config, axis="height").eval()
    queries, keys_values = torch.randn(2, 16, 5, 7), torch.randn(2, 16, 5, 7)
    assert height_attention(queries, keys_values).shape == (2, 16, 5, 7)
    changed = keys_values.clone()
    changed[:, :, 4, 2] += 10  # one reference position: only the target's column 2 sees it
    difference = (height_attention(queries, changed) - height_attention(queries, keys_values)).abs().sum(dim=(0, 1, 2))
    assert difference[2] > 0 and difference[[0, 1, 3, 4, 5, 6]].eq(0).all()
    width_attention = AxialExemplarAxialAttention(config, axis="width").eval()
    assert width_attention(queries, keys_values).shape == (2, 16, 5, 7)


def test_relative_positions_are_clamped():
    index = relative_index(3, 5, max_offset=2, device=torch.device("cpu"))
    assert index.tolist() == [[2, 3, 4, 4, 4], [1, 2, 3, 4, 4], [0, 1, 2, 3, 4]]


def test_attention_modules_sit_at_the_configured_levels():
    model = AxialExemplarModel(tiny_axial_exemplar_config(attention_levels=[4, 5]))
    assert list(model.attention) == ["4", "5"] and len(model.reference_projections) == 2
    output = model(*random_batch()[:2])
    assert [tuple(state.shape[-2:]) for state in output.decoder_hidden_states] == [
        (48, 80),
        (24, 40),
        (12, 20),
        (6, 10),
    ]


def test_soft_histogram_is_bilinear_and_normalised():
    ab = torch.tensor([-1.0, 0.0, 0.05]).view(1, 1, 1, 3).expand(1, 2, 1, 3)
    histogram = soft_ab_histogram(ab, bins=21).view(21, 21)
    assert torch.isclose(histogram.sum(), torch.tensor(1.0))
    assert torch.isclose(histogram[0, 0], torch.tensor(1 / 3))  # exactly on the corner bin
    assert torch.isclose(histogram[10, 10], torch.tensor(1 / 3 + 1 / 12))  # 0 on the centre, 0.05 halfway
    assert torch.isclose(histogram[11, 11], torch.tensor(1 / 12))


def test_histogram_loss_vanishes_on_equal_colours_and_has_finite_gradients():
    reference = torch.rand(2, 2, 8, 8) * 2 - 1
    assert histogram_loss(reference, reference, bins=21, epsilon=1e-5) < 1e-6
    predicted = torch.zeros(2, 2, 8, 8, requires_grad=True)  # one bin, far from the reference's
    loss = histogram_loss(predicted, torch.full((2, 2, 8, 8), 0.9), bins=21, epsilon=1e-5)
    assert torch.isclose(loss, torch.tensor(4.0), atol=1e-3)  # disjoint histograms: 2 (1 + 1)
    loss.backward()
    assert torch.isfinite(predicted.grad).all() and predicted.grad.abs().sum() > 0


def test_total_variation():
    assert total_variation_loss(torch.ones(1, 2, 4, 4)) == 0
    stripes = torch.zeros(1, 2, 4, 4)
    stripes[..., ::2] = 1
    assert torch.isclose(total_variation_loss(stripes), torch.tensor(1.0))


def test_the_chroma_filter_flattens_colour_within_regions_and_keeps_it_at_edges():
    model = AxialExemplarForColorization(tiny_axial_exemplar_config(chroma_filter_radius=4)).eval()
    lightness = torch.full((1, 1, 32, 32), -0.6)
    lightness[..., 16:] = 0.6  # two flat regions
    noise = torch.randn(1, 2, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.1
    ab = noise + torch.where(torch.arange(32) < 16, -0.4, 0.4)  # a colour per region, mottled
    filtered = model.filtered_ab(ab, lightness)
    left, right = filtered[..., 2:30, :14], filtered[..., 2:30, 18:]
    assert left.std() < noise.std() / 3 and right.std() < noise.std() / 3
    assert torch.allclose(left.mean(), torch.tensor(-0.4), atol=0.05)
    assert torch.allclose(right.mean(), torch.tensor(0.4), atol=0.05)
    reference = torch.cat([lightness, ab], dim=1)
    output = model(lightness, reference)  # the model's own output is the filtered finest head
    assert torch.allclose(output.ab, model.filtered_ab(output.pyramid_ab[0], lightness))
    unfiltered = AxialExemplarForColorization(tiny_axial_exemplar_config())
    assert unfiltered.filtered_ab(ab, lightness) is ab


def test_each_loss_term_counts_with_its_weight():
    torch.manual_seed(0)
    model = AxialExemplarForColorization(tiny_axial_exemplar_config()).eval()
    for head in model.heads:
        torch.nn.init.normal_(head[-1].weight, std=0.05)
    inputs = random_batch()
    output = model(*inputs[:2], labels=inputs[2])
    assert min(output.pixel_loss, output.histogram_loss, output.tv_loss) > 0
    for name in ("pixel", "histogram", "tv"):
        weights = {"pixel_loss_weight": 0.0, "histogram_loss_weight": 0.0, "tv_loss_weight": 0.0}
        weights[f"{name}_loss_weight"] = 3.0
        for key, value in weights.items():
            setattr(model.config, key, value)
        loss = model(*inputs[:2], labels=inputs[2]).loss
        assert torch.isclose(loss, 3.0 * getattr(output, f"{name}_loss"))


def test_inputs_are_checked():
    model = AxialExemplarForColorization(tiny_axial_exemplar_config())
    lightness, reference, labels = random_batch()
    with pytest.raises(ValueError, match="must match pixel_values"):
        model(lightness, reference[..., :64])
    with pytest.raises(ValueError, match="reference L, a, b"):
        model(lightness, reference[:, :2])
    with pytest.raises(ValueError, match="multiple of the model's stride 16"):
        model(lightness[..., :40], reference[..., :40])
    with pytest.raises(ValueError, match="labels must have shape"):
        model(lightness, reference, labels=labels[..., :16])


def test_config_validation():
    with pytest.raises(ValueError, match="one entry per backbone block"):
        AxialExemplarConfig(backbone_hidden_sizes=[8, 8])
    with pytest.raises(ValueError, match="not a multiple of num_attention_heads"):
        AxialExemplarConfig(hidden_size=20, num_attention_heads=8)
    with pytest.raises(ValueError, match="backbone levels 1-5"):
        AxialExemplarConfig(attention_levels=[6])
    with pytest.raises(ValueError, match="chroma_filter_radius must be >= 0"):
        AxialExemplarConfig(chroma_filter_radius=-1)
    config = AxialExemplarConfig()
    assert (config.hidden_size, config.num_attention_heads, config.prediction_head_size) == (256, 8, 64)
    assert (config.pixel_loss_weight, config.histogram_loss_weight, config.tv_loss_weight) == (100, 2, 50)
    assert config.histogram_bins**2 == 441 and config.stride == 16


def torchvision_style_vgg19() -> dict[str, torch.Tensor]:
    """A VGG-19 state dict named as torchvision's and timm's: every conv of ``features`` (up to index 34) and a
    classifier, under a prefix, with random values."""
    generator = torch.Generator().manual_seed(0)
    state, in_channels, index = {}, 3, 0
    for block, (channels, depth) in enumerate(zip([64, 128, 256, 512, 512], [2, 2, 4, 4, 4])):
        index += block > 0  # the max-pool
        for _ in range(depth):
            state[f"vgg.features.{index}.weight"] = torch.randn(channels, in_channels, 3, 3, generator=generator)
            state[f"vgg.features.{index}.bias"] = torch.randn(channels, generator=generator)
            in_channels, index = channels, index + 2
    state["vgg.classifier.0.weight"] = torch.randn(8, 8, generator=generator)
    return state


def test_published_vgg19_weights_load_by_name():
    state = torchvision_style_vgg19()
    backbone = AxialExemplarVgg19(AxialExemplarConfig())
    unused = backbone.load_vgg19_state_dict(state)
    assert unused == ["vgg.classifier.0.weight", "vgg.features.34.bias", "vgg.features.34.weight"]
    assert torch.equal(backbone.features[0].weight, state["vgg.features.0.weight"])
    assert torch.equal(backbone.features[32].bias, state["vgg.features.32.bias"])  # conv5_3, read at relu5_3
    assert backbone.level_taps == [1, 6, 11, 20, 29]  # relu1_1 ... relu5_1 in torchvision's numbering
    with pytest.raises(ValueError, match=r"features.0.weight has shape \(64, 3, 3, 3\), the backbone \(8, 3, 3, 3\)"):
        AxialExemplarVgg19(tiny_axial_exemplar_config(backbone_depths=[2, 2, 4, 4, 4])).load_vgg19_state_dict(state)
    del state["vgg.features.10.bias"]
    with pytest.raises(ValueError, match="lacks features.10.bias"):
        backbone.load_vgg19_state_dict(state)


def test_frozen_backbone_gets_no_gradients():
    model = AxialExemplarForColorization(tiny_axial_exemplar_config(freeze_backbone=True))
    lightness, reference, labels = random_batch()
    model(lightness, reference, labels=labels).loss.backward()
    backbone = model.axial_exemplar.backbone
    assert all(parameter.grad is None for parameter in backbone.parameters())
    assert all(parameter.grad is not None for parameter in model.heads.parameters())


@pytest.mark.hub
def test_vgg19_weights_from_the_hub():
    backbone = AxialExemplarVgg19(AxialExemplarConfig())
    assert "head.fc.weight" in load_vgg19_from_hub(backbone)


def test_save_and_auto_load_round_trip(tiny_exemplar_dir):
    assert isinstance(AutoConfig.from_pretrained(tiny_exemplar_dir), AxialExemplarConfig)
    assert isinstance(AutoModel.from_pretrained(tiny_exemplar_dir), AxialExemplarModel)
    assert isinstance(AutoImageProcessor.from_pretrained(tiny_exemplar_dir), AxialExemplarImageProcessor)
    loaded = AutoModelForImageToImage.from_pretrained(tiny_exemplar_dir).eval()
    torch.manual_seed(0)
    model = AxialExemplarForColorization(tiny_axial_exemplar_config())
    for head in model.heads:
        torch.nn.init.normal_(head[-1].weight, std=0.05)
    lightness, reference, _ = random_batch(64, 64)
    with torch.no_grad():
        assert torch.allclose(model.eval()(lightness, reference).ab, loaded(lightness, reference).ab, atol=1e-6)


def test_pipeline_with_a_reference_of_any_size_and_mode(tiny_exemplar_dir, color_image):
    pipe = pipeline("image-colorization", model=str(tiny_exemplar_dir))
    reference = color_image.resize((33, 91)).convert("RGBA")
    target = color_image.convert("L")
    output = pipe(target, reference=reference)
    assert output.size == color_image.size and output.mode == "RGB"
    assert (load_lightness(output) - load_lightness(target)).abs().mean() < 1  # the target's own L
    assert rgb_to_lab(load_rgb(output))[1:].abs().mean() > 1  # in colour
    outputs = pipe([color_image, {"image": color_image, "reference": reference.rotate(90)}], reference=reference)
    assert [image.size for image in outputs] == [color_image.size] * 2


def test_pipeline_reads_a_reference_file_once_for_every_target(tiny_exemplar_dir, color_image, tmp_path, monkeypatch):
    import hf_colorize.images as images

    reference_path = tmp_path / "reference.png"
    color_image.rotate(90).save(reference_path)
    opened = []
    open_path = images._open_path
    monkeypatch.setattr(images, "_open_path", lambda path: opened.append(path.name) or open_path(path))
    pipe = pipeline("image-colorization", model=str(tiny_exemplar_dir))
    outputs = pipe([color_image] * 3, reference=str(reference_path))
    assert opened == ["reference.png"]
    processor = AutoImageProcessor.from_pretrained(tiny_exemplar_dir)
    inputs = processor(color_image, reference=str(reference_path))
    with torch.no_grad():
        ab = pipe.model(inputs["pixel_values"], inputs["reference_values"]).ab
    expected = processor.post_process_colorization(ab, inputs["lightness"])[0]
    assert all(np.array_equal(np.asarray(output), np.asarray(expected)) for output in outputs)


def test_pipeline_refuses_bad_requests(tiny_exemplar_dir, color_image, tmp_path):
    pipe = pipeline("image-colorization", model=str(tiny_exemplar_dir))
    with pytest.raises(ValueError, match="needs a colour reference picture"):
        pipe(color_image)
    with pytest.raises(InvalidImageError, match="the reference is grey"):
        pipe(color_image, reference=color_image.convert("L"))
    with pytest.raises(InvalidImageError, match="missing.jpg: file not found"):
        pipe(color_image, reference=str(tmp_path / "missing.jpg"))
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(InvalidImageError, match="broken.jpg"):
        pipe(color_image, reference=str(tmp_path / "broken.jpg"))
    with pytest.raises(ValueError, match="does not take colour hints: use a 'dlsa' model"):
        pipe(color_image, reference=color_image, hints=[(1, 1, "#ff0000")])


@pytest.mark.parametrize("variant, widths, hidden", [("axial-exemplar-base", 1, 256), ("axial-exemplar-small", 4, 32)])
def test_published_variants(variant, widths, hidden):
    folder = Path(__file__).parent.parent / "hub_configs" / variant
    config = AutoConfig.from_pretrained(folder)
    assert isinstance(config, AxialExemplarConfig) and config.attention_levels == [3, 4, 5]
    assert config.backbone_hidden_sizes == [size // widths for size in (64, 128, 256, 512, 512)]
    assert config.hidden_size == hidden and config.backbone_depths == [2, 2, 4, 4, 4]
    assert isinstance(AutoImageProcessor.from_pretrained(folder), AxialExemplarImageProcessor)
