import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_SIZE, tiny_smsanet_config
from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageToImage, pipeline

from hf_colorize import SmsanetConfig, SmsanetForColorization, SmsanetImageProcessor, SmsanetModel
from hf_colorize.modeling_utils import worse_than_grey_loss
from hf_colorize.models.smsanet.modeling_smsanet import (
    SmsanetMultiScaleAttention,
    annealed_mean,
    color_bin_centres,
    soft_encoded_cross_entropy,
)
from hf_colorize.profiling import count_macs, count_parameters
from hf_colorize.rebalancing import rebalancing_weights
from hf_colorize.saliency import spectral_residual_saliency

HUB_CONFIGS = Path(__file__).parent.parent / "hub_configs"


def random_batch(height: int = 64, width: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    lightness = torch.rand(2, 1, height, width, generator=generator) * 2 - 1
    labels = torch.randn(2, 2, height, width, generator=generator) * 0.3
    return lightness, labels


def huber(ab: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.huber_loss(ab * 110, labels * 110, delta=1.0)


def test_forward_shapes_and_gradients():
    model = SmsanetForColorization(tiny_smsanet_config())
    lightness, labels = random_batch()
    output = model(lightness, labels=labels, output_hidden_states=True)
    assert output.ab.shape == (2, 2, 64, 48) and output.ab.abs().max() < 1
    assert output.loss.ndim == 0 and output.loss > 0
    assert [state.shape[-2:] for state in output.hidden_states] == [
        (64, 48), (32, 24), (16, 12), (8, 6), (8, 6), (8, 6), (8, 6), (16, 12), (32, 24), (64, 48)
    ]  # fmt: skip
    output.loss.backward()
    assert all(parameter.grad is not None for parameter in model.parameters())


def test_base_model_features():
    output = SmsanetModel(tiny_smsanet_config())(torch.zeros(1, 1, 64, 64))
    assert output.last_hidden_state.shape == (1, 8, 64, 64) and output.hidden_states is None


def test_attention_follows_the_configured_blocks():
    model = SmsanetForColorization(tiny_smsanet_config(attention_blocks=[4, 9]))
    attended = [name for name, module in model.named_modules() if isinstance(module, SmsanetMultiScaleAttention)]
    assert attended == ["smsanet.encoder.attention.4", "smsanet.decoder.attention.9"]
    baseline = SmsanetForColorization(tiny_smsanet_config(use_smsa=False))  # the paper's BaseNet
    assert not any(isinstance(module, SmsanetMultiScaleAttention) for module in baseline.modules())


def huber_only_model_and_batch() -> tuple[SmsanetForColorization, torch.Tensor, torch.Tensor]:
    """A tiny model without the salient loss, its head moved away from the all-grey start, and a random batch."""
    torch.manual_seed(0)
    model = SmsanetForColorization(tiny_smsanet_config(use_salient_loss=False)).eval()
    torch.nn.init.normal_(model.head.weight, std=0.1)
    return model, *random_batch()


def test_salient_loss_can_be_switched_off_and_weighted():
    model, lightness, labels = huber_only_model_and_batch()
    huber_only = model(lightness, labels=labels)
    assert torch.allclose(huber_only.loss, huber(huber_only.ab, labels))

    saliency = spectral_residual_saliency(lightness)
    salient_term = (saliency * (huber_only.ab - labels).abs()).mean() * 110
    for weight in (1.0, 2.5):
        model.config.use_salient_loss, model.config.salient_loss_weight = True, weight
        total = model(lightness, labels=labels).loss
        assert torch.allclose(total, huber_only.loss + weight * salient_term)
        assert total > huber_only.loss


def test_worse_than_grey_term_is_added_with_its_weight():
    model, lightness, labels = huber_only_model_and_batch()
    plain = model(lightness, labels=labels)
    term = worse_than_grey_loss(plain.ab, labels)
    assert term > 0  # random colours are worse than grey on random labels
    model.config.worse_than_grey_weight = 0.4
    assert torch.allclose(model(lightness, labels=labels).loss, plain.loss + 0.4 * term)


def test_color_rebalancing_can_be_switched_on():
    model, lightness, labels = huber_only_model_and_batch()
    plain = model(lightness, labels=labels)
    model.config.use_color_rebalancing = True
    rebalanced = model(lightness, labels=labels).loss
    weights = rebalancing_weights(labels * 110, model.config.rebalancing_uniform_mix)
    per_pixel = torch.nn.functional.huber_loss(plain.ab * 110, labels * 110, delta=1.0, reduction="none")
    assert torch.allclose(rebalanced, (weights * per_pixel).mean())
    assert not torch.allclose(rebalanced, plain.loss)


def test_smsa_changes_the_prediction():
    torch.manual_seed(0)
    attended = SmsanetForColorization(tiny_smsanet_config()).eval()
    torch.nn.init.normal_(attended.head.weight, std=0.1)
    baseline = SmsanetForColorization(tiny_smsanet_config(use_smsa=False)).eval()
    missing, unexpected = baseline.load_state_dict(attended.state_dict(), strict=False)
    assert not missing and all(".attention." in name for name in unexpected)
    lightness, _ = random_batch()
    with torch.no_grad():
        assert not torch.allclose(attended(lightness).ab, baseline(lightness).ab)


@pytest.mark.parametrize("push", [1.0, -1.0])
def test_scale_weights_stay_in_the_unit_interval(push):
    attention = SmsanetMultiScaleAttention(tiny_smsanet_config(), channels=16)
    assert torch.equal(attention.scale_weights, torch.full((3,), 0.5))
    optimizer = torch.optim.SGD(attention.parameters(), lr=40.0)
    (push * attention.scale_weights.sum()).backward()
    optimizer.step()
    assert (attention.scale_logits * push <= -5).all()  # raw parameters far outside (0, 1)
    weights = attention.scale_weights
    assert ((weights > 0) & (weights < 1)).all(), weights
    assert torch.isfinite(attention(torch.randn(2, 16, 8, 8))).all()


def test_scale_weights_mix_the_maps_as_eq_3():
    torch.manual_seed(0)
    attention = SmsanetMultiScaleAttention(tiny_smsanet_config(), channels=16).eval()
    features = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        attention.scale_logits.copy_(torch.tensor([30.0, -30.0, -30.0]))  # lambda = (1, 0, 0): CBAM's one scale
        only_first = attention(features)
        refined = features * attention.channel_attention(features)
        descriptor = torch.cat([refined.amax(1, keepdim=True), refined.mean(1, keepdim=True)], dim=1)
        expected = features + refined * attention.scale_attentions[0](descriptor)
    assert torch.allclose(only_first, expected, atol=1e-6)


def test_chroma_gain_scales_the_output_and_not_the_loss():
    model = SmsanetForColorization(tiny_smsanet_config()).eval()
    torch.nn.init.normal_(model.head.weight, std=3.0)  # saturated: some ab near the tanh's limits
    lightness, labels = random_batch()
    plain = model(lightness, labels=labels)
    model.config.chroma_gain = 1.5
    gained = model(lightness, labels=labels)
    assert torch.equal(gained.loss, plain.loss)
    assert torch.allclose(gained.ab, (plain.ab * 1.5).clamp(-1, 1))
    assert gained.ab.abs().max() <= 1 and (plain.ab.abs() > 1 / 1.5).any()  # the clip was needed


def test_classification_head_scores_ab_bins_at_a_quarter_resolution():
    config = tiny_smsanet_config(color_bin_size=20)
    assert config.num_color_bins == 11 and torch.allclose(
        color_bin_centres(config)[[0, -1]] * 110, torch.tensor([-100.0, 100.0])
    )
    model = SmsanetForColorization(config)
    lightness, labels = random_batch()
    output = model(lightness, labels=labels)
    assert output.color_logits.shape == (2, 121, 16, 12)
    assert torch.equal(output.color_logits, torch.zeros_like(output.color_logits))  # starts uniform: grey
    regression_only = SmsanetForColorization(tiny_smsanet_config())
    regression_only.load_state_dict(model.state_dict(), strict=False)
    expected = regression_only(lightness, labels=labels).loss + torch.log(torch.tensor(121.0))  # uniform scores
    torch.testing.assert_close(output.loss, expected)
    output.loss.backward()
    assert model.classification_head.weight.grad.abs().sum() > 0


def test_soft_encoded_cross_entropy_is_smallest_at_the_true_colour():
    config = tiny_smsanet_config(color_bin_size=10, annealed_mean_temperature=1.0)
    labels = torch.tensor([23.0, -47.0]).view(1, 2, 1, 1).expand(1, 2, 4, 4) / 110
    logits = torch.zeros(1, config.num_color_bins**2, 4, 4, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.5)
    for _ in range(200):
        optimizer.zero_grad()
        soft_encoded_cross_entropy(logits, labels, config).backward()
        optimizer.step()
    # the four bins around (23, -47) take the bilinear weights, so the plain mean (T = 1) gives the colour back
    torch.testing.assert_close(
        annealed_mean(logits, config)[0, :, 0, 0] * 110, torch.tensor([23.0, -47.0]), atol=0.2, rtol=0
    )
    config.annealed_mean_temperature = 0.01  # nearly the mode: the nearest bin centre
    torch.testing.assert_close(
        annealed_mean(logits, config)[0, :, 0, 0] * 110, torch.tensor([25.0, -45.0]), atol=0.2, rtol=0
    )


def test_classification_mix_blends_the_two_heads():
    config = tiny_smsanet_config(color_bin_size=20)
    model = SmsanetForColorization(config).eval()
    torch.nn.init.normal_(model.classification_head.weight, std=1.0)
    torch.nn.init.normal_(model.head.weight, std=1.0)
    lightness, _ = random_batch()
    regression = model(lightness).ab
    model.config.classification_mix = 1.0
    classified = model(lightness)
    upsampled = torch.nn.functional.interpolate(
        annealed_mean(classified.color_logits, config), size=(64, 48), mode="bilinear", align_corners=False
    )
    torch.testing.assert_close(classified.ab, upsampled)
    model.config.classification_mix = 0.25
    torch.testing.assert_close(model(lightness).ab, 0.75 * regression + 0.25 * upsampled)


def test_confidence_power_keeps_chroma_where_the_classification_is_sure():
    config = tiny_smsanet_config(color_bin_size=20)
    model = SmsanetForColorization(config).eval()
    torch.nn.init.normal_(model.head.weight, std=1.0)
    lightness, _ = random_batch()
    plain = model(lightness).ab
    assert torch.equal(model(lightness).ab, plain)  # zero scores: uniform, confidence 0, but the power is 0
    model.config.confidence_power = 1.0
    assert model(lightness).ab.abs().max() < 1e-6  # a uniform guess gives grey
    with torch.no_grad():
        model.classification_head.bias[7] = 50.0  # one bin certain everywhere: confidence 1
    torch.testing.assert_close(model(lightness).ab, plain)
    with torch.no_grad():
        model.classification_head.bias[7] = 1.0  # unsure: between the two
    gated = model(lightness).ab
    assert (gated.abs() < plain.abs()).float().mean() > 0.9 and (gated * plain >= 0).all()


def test_inputs_are_checked():
    model = SmsanetForColorization(tiny_smsanet_config())
    with pytest.raises(ValueError, match="not a multiple of the model's stride 8"):
        model(torch.zeros(1, 1, 64, 60))
    with pytest.raises(ValueError, match="pixel_values must be"):
        model(torch.zeros(1, 4, 64, 64))
    with pytest.raises(ValueError, match="labels must have shape"):
        model(torch.zeros(1, 1, 64, 64), labels=torch.zeros(1, 2, 32, 32))


def test_config_validation():
    with pytest.raises(ValueError, match="one entry per block"):
        SmsanetConfig(hidden_sizes=[8] * 9)
    with pytest.raises(ValueError, match="block numbers 1-10"):
        SmsanetConfig(attention_blocks=[0])
    with pytest.raises(ValueError, match="rebalancing_uniform_mix"):
        SmsanetConfig(rebalancing_uniform_mix=1.5)
    with pytest.raises(ValueError, match="chroma_gain must be positive"):
        SmsanetConfig(chroma_gain=0)
    with pytest.raises(ValueError, match="worse_than_grey_weight must be >= 0"):
        SmsanetConfig(worse_than_grey_weight=-1)
    with pytest.raises(ValueError, match="classification_mix needs a classification head"):
        SmsanetConfig(classification_mix=0.5)
    with pytest.raises(ValueError, match="classification_mix must be in"):
        SmsanetConfig(color_bin_size=10, classification_mix=1.5)
    with pytest.raises(ValueError, match="confidence_power needs a classification head"):
        SmsanetConfig(confidence_power=1)
    with pytest.raises(ValueError, match="annealed_mean_temperature must be positive"):
        SmsanetConfig(annealed_mean_temperature=0)
    assert SmsanetConfig().stride == 8
    assert SmsanetConfig(attention_blocks=[]).attention_blocks == []


def test_custom_saliency_function_is_used():
    calls = []

    def centre_saliency(lightness: torch.Tensor) -> torch.Tensor:
        calls.append(lightness.shape)
        saliency = torch.zeros_like(lightness)
        saliency[..., 16:48, 16:32] = 1.0
        return saliency

    torch.manual_seed(0)
    model = SmsanetForColorization(tiny_smsanet_config(), saliency_fn=centre_saliency).eval()
    lightness, labels = random_batch()
    output = model(lightness, labels=labels)
    assert calls == [(2, 1, 64, 48)]
    error = (output.ab - labels).abs()
    expected_salient = error[..., 16:48, 16:32].sum() / error.numel() * 110
    assert torch.allclose(output.loss, huber(output.ab, labels) + expected_salient)

    model.saliency_fn = lambda lightness: torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match="saliency_fn must return shape"):
        model(lightness, labels=labels)


def test_spectral_residual_highlights_an_odd_patch():
    # A faintly noisy background, as real flat regions are: on a noiseless one the spectrum is the patch's
    # alone, whose sinc ripples the 3x3 mean filter of the method does not model.
    lightness = torch.full((2, 1, 64, 96), -0.2) + 0.05 * torch.randn(
        2, 1, 64, 96, generator=torch.Generator().manual_seed(0)
    )
    lightness[0, :, 10:16, 70:76] = 0.8
    lightness[1, :, 40:44, 8:12] = -0.9
    saliency = spectral_residual_saliency(lightness)
    assert saliency.shape == lightness.shape and saliency.min() >= 0 and saliency.max() <= 1
    for image, (rows, cols) in enumerate([(slice(10, 16), slice(70, 76)), (slice(40, 44), slice(8, 12))]):
        row, col = divmod(int(saliency[image, 0].argmax()), 96)
        assert rows.start - 2 <= row < rows.stop + 2 and cols.start - 2 <= col < cols.stop + 2
        assert saliency[image, 0, rows, cols].mean() > 10 * saliency[image].mean()


def test_save_and_auto_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = SmsanetForColorization(tiny_smsanet_config()).train()
    model(random_batch()[0])  # batch-norm statistics away from their initial values
    for module in model.modules():
        if isinstance(module, SmsanetMultiScaleAttention):
            torch.nn.init.normal_(module.scale_logits)
    torch.nn.init.normal_(model.head.weight, std=0.1)
    model.eval().save_pretrained(tmp_path)
    SmsanetImageProcessor(size={"height": TINY_SIZE, "width": TINY_SIZE}).save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), SmsanetConfig)
    assert isinstance(AutoModel.from_pretrained(tmp_path), SmsanetModel)
    processor = AutoImageProcessor.from_pretrained(tmp_path)
    assert isinstance(processor, SmsanetImageProcessor) and processor.size == {"height": 64, "width": 64}
    loaded = AutoModelForImageToImage.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, SmsanetForColorization) and loaded.saliency_fn is spectral_residual_saliency
    lightness = random_batch()[0]
    with torch.no_grad():
        # Loaded weights are views into the file's buffer at other memory alignments, and the CPU convolution kernels
        # may then round the last bit differently: identical up to float32 rounding.
        assert torch.allclose(model(lightness).ab, loaded(lightness).ab, rtol=0, atol=1e-6)

    def no_saliency(lightness: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(lightness)

    assert SmsanetForColorization.from_pretrained(tmp_path, saliency_fn=no_saliency).saliency_fn is no_saliency


def test_pipeline_colorizes_without_hints(tiny_smsanet_dir, color_image):
    pipe = pipeline("image-colorization", model=tiny_smsanet_dir)
    output = pipe(color_image)
    assert output.mode == "RGB" and output.size == color_image.size
    with pytest.raises(ValueError, match="'dlsa'"):
        pipe(color_image, hints=[(3, 3, "#ff0000")])


@pytest.mark.parametrize("variant, widths", [("smsanet-base", 1), ("smsanet-small", 4)])
def test_published_variants(variant, widths):
    config = AutoConfig.from_pretrained(HUB_CONFIGS / variant)
    assert isinstance(config, SmsanetConfig) and config.use_smsa and config.use_salient_loss
    assert not config.use_color_rebalancing and config.huber_delta == 1.0
    assert config.hidden_sizes == [size // widths for size in (64, 128, 256, 512, 512, 512, 512, 256, 128, 128)]
    assert json.loads((HUB_CONFIGS / variant / "preprocessor_config.json").read_text())["size"]["height"] == 224


def test_small_variant_cost():
    model = SmsanetForColorization(AutoConfig.from_pretrained(HUB_CONFIGS / "smsanet-small")).eval()
    assert abs(count_macs(model, pixel_values=torch.zeros(1, 1, 224, 224)) / 1e9 - 3.60) < 0.05
    assert abs(count_parameters(model) / 1e6 - 2.14) < 0.01
