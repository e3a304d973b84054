import json
import math
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageToImage

from hf_colorize import DlsaConfig, DlsaForColorization, DlsaImageProcessor, DlsaModel
from hf_colorize.modeling_utils import log_mse_loss, worse_than_grey_loss
from hf_colorize.models.dlsa.modeling_dlsa import DlsaFeatureWindowAttention, drop_path_rates
from hf_colorize.profiling import count_macs, count_parameters

HUB_CONFIGS = Path(__file__).parent.parent / "hub_configs"


def test_forward_shapes_and_loss():
    model = DlsaForColorization(tiny_config()).eval()
    pixel_values = torch.randn(2, 4, 64, 96)
    labels = torch.randn(2, 2, 64, 96) * 0.3
    output = model(pixel_values, labels=labels)
    assert output.ab.shape == (2, 2, 64, 96)
    assert output.loss.ndim == 0 and output.loss > 0
    expected = torch.nn.functional.huber_loss(output.ab * 110, labels * 110, delta=1.0)
    assert torch.allclose(output.loss, expected)
    output.loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_base_model_features_and_hidden_states():
    config = tiny_config()
    output = DlsaModel(config)(torch.randn(1, 4, 64, 64), output_hidden_states=True)
    assert output.last_hidden_state.shape == (1, 32, 2, 2)
    assert [h.shape[1] for h in output.hidden_states] == [8, 8, 16, 32, 32]


def test_input_size_not_multiple_of_stride_is_refused():
    model = DlsaForColorization(tiny_config())
    with pytest.raises(ValueError, match="not a multiple of the model's stride 32"):
        model(torch.randn(1, 4, 64, 70))
    with pytest.raises(ValueError, match="pixel_values must be"):
        model(torch.randn(1, 3, 64, 64))


def test_config_validation():
    with pytest.raises(ValueError, match="does not divide"):
        DlsaConfig(embed_dim=10, num_heads=[3, 6, 12, 24])
    with pytest.raises(ValueError, match="exceeds"):
        DlsaConfig(embed_dim=8, hidden_sizes=[8, 64, 64, 64], num_heads=[1, 1, 1, 1])
    assert DlsaConfig(embed_dim=8, num_heads=[1, 1, 1, 1]).hidden_sizes == [8, 32, 128, 512]
    with pytest.raises(ValueError, match="head_filter_radius must be >= 0"):
        DlsaConfig(head_filter_radius=-1)


def two_regions_with_a_hint() -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs of a dark left half and a light right half, with and without one hint in the left half."""
    lightness = torch.full((1, 1, 64, 64), -0.8)
    lightness[..., 32:] = 0.8
    hints = torch.zeros(1, 3, 64, 64)
    hints[0, :2, 30:32, 4:6] = torch.tensor([0.5, -0.5])[:, None, None]
    hints[0, 2, 30:32, 4:6] = 1
    return torch.cat([lightness, hints], 1), torch.cat([lightness, torch.zeros_like(hints)], 1)


@torch.no_grad()
def test_hint_reach_gating_keeps_a_hint_within_its_region():
    torch.manual_seed(0)
    gated = DlsaForColorization(tiny_config(hint_propagation=True, hint_reach_gating=True)).eval()
    torch.nn.init.normal_(gated.head.reconstruction.weight, std=0.5)  # a head that paints colour everywhere
    ungated = DlsaForColorization(tiny_config(hint_propagation=True)).eval()
    ungated.load_state_dict(gated.state_dict())
    with_hint, without_hint = two_regions_with_a_hint()
    change = gated(with_hint).ab - gated(without_hint).ab
    assert change[..., 36:].abs().max() < 1e-3  # beyond the edge: the colours it has without the hint
    assert change[..., 28:34, 2:8].abs().mean() > 0.1  # where the hint is: the hint counts
    ungated_change = ungated(with_hint).ab - ungated(without_hint).ab
    assert ungated_change[..., 36:].abs().max() > 0.1  # the attention alone carries it across
    with pytest.raises(ValueError, match="hint_reach_gating needs hint_propagation"):
        tiny_config(hint_reach_gating=True)


def step_across_columns(ab: torch.Tensor, column: int) -> float:
    return (ab[..., column] - ab[..., column - 1]).abs().mean().item()


@torch.no_grad()
def test_head_filter_joins_the_dupsampling_blocks_and_keeps_lightness_edges():
    torch.manual_seed(0)
    config = tiny_config(hint_propagation=True)
    plain = DlsaForColorization(config).eval()
    torch.nn.init.normal_(plain.head.reconstruction.weight, std=0.5)  # blocks of strong, unrelated colours
    filtered = DlsaForColorization(tiny_config(hint_propagation=True, head_filter_radius=8)).eval()
    filtered.load_state_dict(plain.state_dict())
    flat = torch.zeros(1, 4, 64, 96)
    # On a flat picture the unfiltered head steps at the 32-pixel token borders; filtered, it no longer does.
    plain_steps = [step_across_columns(plain(flat).ab, column) for column in (32, 64)]
    filtered_ab = filtered(flat).ab
    assert min(plain_steps) > 0.05
    assert max(step_across_columns(filtered_ab, column) for column in (32, 64)) < min(plain_steps) / 4
    # A lightness edge inside a block: the filtered colour steps there.
    with_edge = flat.clone()
    with_edge[:, 0, :, 48:] = 1.0
    filtered_step = step_across_columns(filtered(with_edge).ab, 48)
    assert filtered_step > 0.02 and filtered_step > step_across_columns(filtered_ab, 48) * 4


def test_feature_window_attention_groups_tokens_by_brightness():
    torch.manual_seed(0)
    attention = DlsaFeatureWindowAttention(tiny_config(window_size=2), dim=8, num_heads=2).eval()
    tokens = torch.randn(1, 4, 4, 8)
    brightness = torch.randperm(16).float().view(1, 4, 4)
    output = attention(tokens, brightness)
    # Permuting token positions together with their brightness permutes the output the same way.
    permutation = torch.randperm(16)
    permuted = attention(
        tokens.view(1, 16, 8)[:, permutation].view(1, 4, 4, 8), brightness.view(1, 16)[:, permutation].view(1, 4, 4)
    )
    assert torch.allclose(permuted.view(1, 16, 8), output.view(1, 16, 8)[:, permutation], atol=1e-6)
    # Tokens attend only within their group of 4 by brightness: changing the darkest token leaves the
    # brightest group unchanged and changes its own group.
    darkest, brightest = brightness.view(-1).argmin(), brightness.view(-1).argmax()
    changed = tokens.clone().view(16, 8)
    changed[darkest] += 5.0
    changed_output = attention(changed.view(1, 4, 4, 8), brightness).view(16, 8)
    assert torch.allclose(changed_output[brightest], output.view(16, 8)[brightest], atol=1e-6)
    same_group = (brightness.view(-1) < 4).nonzero().view(-1)
    other = [i for i in same_group.tolist() if i != darkest][0]
    assert not torch.allclose(changed_output[other], output.view(16, 8)[other])


def test_feature_window_attention_pads_uneven_groups():
    torch.manual_seed(0)
    attention = DlsaFeatureWindowAttention(tiny_config(window_size=2), dim=8, num_heads=2).eval()
    tokens, brightness = torch.randn(2, 3, 3, 8), torch.rand(2, 3, 3)
    output = attention(tokens, brightness)  # 9 tokens in groups of 4: the brightest one alone, with 3 padding tokens
    assert output.shape == (2, 3, 3, 8)
    for image in range(2):
        order, flat = brightness[image].flatten().argsort(), tokens[image].reshape(9, 8)
        for group in (order[:4], order[4:8], order[8:]):  # each group attends within its real tokens only
            expected = attention.attention(flat[group][None])[0]
            torch.testing.assert_close(output[image].reshape(9, 8)[group], expected, atol=1e-5, rtol=1e-4)


def test_save_and_auto_load_round_trip(tmp_path):
    model = DlsaForColorization(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    DlsaImageProcessor(size={"height": 64, "width": 64}).save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), DlsaConfig)
    loaded = AutoModelForImageToImage.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, DlsaForColorization)
    assert isinstance(AutoModel.from_pretrained(tmp_path), DlsaModel)
    processor = AutoImageProcessor.from_pretrained(tmp_path)
    assert isinstance(processor, DlsaImageProcessor) and processor.size == {"height": 64, "width": 64}
    pixel_values = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(pixel_values).ab, loaded(pixel_values).ab)


@pytest.mark.parametrize("variant, target, tolerance", [("dlsa-tiny", 1.01, 0.15), ("dlsa-small", 3.47, 0.4)])
def test_published_variants_meet_their_macs(variant, target, tolerance):
    config = AutoConfig.from_pretrained(HUB_CONFIGS / variant)
    model = DlsaForColorization(config).eval()
    gmacs = count_macs(model, pixel_values=torch.zeros(1, 4, 224, 224)) / 1e9
    assert abs(gmacs - target) <= tolerance, gmacs
    if variant == "dlsa-tiny":
        assert count_parameters(model) * 2 < 8 * 1024 * 1024  # fits the 8 MB fp16 budget
    assert json.loads((HUB_CONFIGS / variant / "preprocessor_config.json").read_text())["size"]["height"] == 224


def test_window_attention_ignores_padding_tokens():
    from hf_colorize.models.dlsa.modeling_dlsa import DlsaWindowAttention

    torch.manual_seed(0)
    attention = DlsaWindowAttention(tiny_config(window_size=4), dim=8, num_heads=2, shifted=False).eval()
    torch.nn.init.zeros_(attention.relative_position_bias_table)
    tokens = torch.randn(1, 6, 6, 8)  # padded to 8x8: the top-right window holds 4x2 real tokens
    output = attention(tokens)
    real_tokens = tokens[:, 0:4, 4:6, :].reshape(1, 8, 8)
    expected = attention.attention(real_tokens).view(1, 4, 2, 8)
    assert torch.allclose(output[:, 0:4, 4:6, :], expected, atol=1e-5)
    shifted = DlsaWindowAttention(tiny_config(window_size=4), dim=8, num_heads=2, shifted=True)
    assert torch.isfinite(shifted(torch.randn(2, 10, 6, 8))).all()


def test_drop_path_rates_rise_linearly_to_the_configured_rate():
    assert drop_path_rates(0.2, 5) == pytest.approx(torch.linspace(0, 0.2, 5).tolist())
    assert drop_path_rates(0.2, 1) == [0.0]


def test_a_model_first_run_in_inference_mode_still_trains():
    """The cached relative position index and window mask are not inference tensors, which autograd refuses."""
    model = DlsaForColorization(tiny_config(window_size=6))  # a window no other test caches
    pixel_values, labels = torch.randn(1, 4, 64, 64), torch.zeros(1, 2, 64, 64)
    with torch.inference_mode():
        inferred = model(pixel_values).ab
    outputs = model(pixel_values, labels=labels)
    outputs.loss.backward()
    torch.testing.assert_close(outputs.ab.detach(), inferred, atol=1e-6, rtol=1e-5)
    for block in (model.dlsa.encoder.stages[0].blocks[0], model.dlsa.encoder.stages[1].blocks[0]):
        table = block.shifted_attention.relative_position_bias_table  # read through the cached index
        assert table.grad is not None and table.grad.abs().sum() > 0


def test_attention_weights_per_window_and_group_as_swin():
    model = DlsaModel(tiny_config()).eval()  # 64x64: token grids 16, 8, 4, 2; windows of 4x4 tokens
    with torch.no_grad():
        attentions = model(torch.randn(2, 4, 64, 64), output_attentions=True).attentions
    windows_and_heads = [(2 * 16, 1), (2 * 4, 2), (2 * 1, 2)]  # stage 3's 2x2 grid is one window of 4 tokens
    expected = [(count, heads, 16, 16) for count, heads in windows_and_heads for _ in range(3)] + [(2, 2, 4, 4)] * 3
    assert [tuple(weights.shape) for weights in attentions] == expected  # WSA, SWSA, FWSA of each block


def assert_loss_adds_weighted_term(weight_field: str, term) -> None:
    """The model's loss is the Huber loss plus ``weight_field`` times ``term``; a negative weight is refused."""
    model = DlsaForColorization(tiny_config(**{weight_field: 2.0})).eval()
    pixel_values, labels = torch.randn(2, 4, 64, 64), torch.randn(2, 2, 64, 64) * 0.3
    output = model(pixel_values, labels=labels)
    huber = torch.nn.functional.huber_loss(output.ab * 110, labels * 110, delta=1.0)
    assert torch.allclose(output.loss, huber + 2.0 * term(output.ab, labels))
    with pytest.raises(ValueError, match=f"{weight_field} must be >= 0"):
        DlsaConfig(**{weight_field: -1})


def test_worse_than_grey_term_counts_only_images_coloured_worse_than_grey():
    labels = torch.zeros(2, 2, 8, 8)
    labels[:, 0] = 0.2  # a reddish picture, 22 ab units from grey
    prediction = labels.clone()
    prediction[1, 0] = -0.2  # the second image painted the opposite colour: 44 units off, grey is 22
    assert torch.isclose(worse_than_grey_loss(prediction, labels), torch.tensor((44.0 - 22.0) / 2), atol=1e-3)
    assert worse_than_grey_loss(prediction[:1], labels[:1]) < 1e-3  # right colours: nothing to add
    assert worse_than_grey_loss(labels * 0.5, labels) == 0  # paler than the truth, still better than grey

    assert_loss_adds_weighted_term("worse_than_grey_weight", worse_than_grey_loss)


def test_log_mse_term_is_minus_each_images_psnr_in_db_averaged():
    labels = torch.zeros(2, 2, 8, 8)
    prediction = labels.clone()
    prediction[0, 0] = 10 / 110  # 10 ab units off in a: mean squared error 50 over both channels
    prediction[1] = 1 / 110  # 1 unit off in a and b: mean squared error 1
    expected = (10 * math.log10(50 + 1) + 10 * math.log10(1 + 1)) / 2
    assert math.isclose(float(log_mse_loss(prediction, labels)), expected, rel_tol=1e-4)
    # in dB, halving the error of the nearly right image gains as much as halving the far one's
    nearly_right, far = prediction.clone(), prediction.clone()
    nearly_right[1], far[0, 0] = prediction[1] / 2, prediction[0, 0] / 2
    gains = [
        float(log_mse_loss(prediction, labels, floor=0) - log_mse_loss(p, labels, floor=0)) for p in (nearly_right, far)
    ]
    assert math.isclose(gains[0], gains[1], rel_tol=1e-4)

    assert_loss_adds_weighted_term("log_mse_weight", log_mse_loss)


def test_automatic_chroma_gain_scales_only_images_without_hints():
    torch.manual_seed(0)
    pixel_values = torch.zeros(2, 4, 64, 64)
    pixel_values[:, 0] = torch.randn(64, 64).clamp(-1, 1)  # the same lightness twice
    pixel_values[1, 1:3, 10:12, 10:12] = 0.4  # the second image gets one hint
    pixel_values[1, 3, 10:12, 10:12] = 1.0
    labels = torch.randn(2, 2, 64, 64) * 0.3
    plain = DlsaForColorization(tiny_config(hint_propagation=True)).eval()
    torch.nn.init.normal_(plain.head.reconstruction.weight, std=0.5)  # a trained head's colour, not zero-init's
    gained = DlsaForColorization(tiny_config(hint_propagation=True, automatic_chroma_gain=3.0)).eval()
    gained.load_state_dict(plain.state_dict())
    with torch.no_grad():
        expected, output = plain(pixel_values, labels=labels), gained(pixel_values, labels=labels)
    assert expected.ab[0].abs().amax() > 0.05  # there is colour to scale
    assert torch.allclose(output.ab[0], (3.0 * expected.ab[0]).clamp(-1, 1))  # no hint: scaled and clipped
    assert torch.equal(output.ab[1], expected.ab[1])  # with a hint: as predicted
    assert torch.equal(output.loss, expected.loss)  # the loss sees the ab before the gain
    with pytest.raises(ValueError, match="automatic_chroma_gain must be positive"):
        DlsaConfig(automatic_chroma_gain=0)


def test_fine_head_starts_at_zero_then_colours_within_a_dupsampling_block(tmp_path):
    torch.manual_seed(0)
    pixel_values = torch.randn(2, 4, 64, 64).clamp(-1, 1)
    plain = DlsaForColorization(tiny_config(hint_propagation=True)).eval()
    fine = DlsaForColorization(tiny_config(hint_propagation=True, fine_head_channels=8)).eval()
    missing, unexpected = fine.load_state_dict(plain.state_dict(), strict=False)
    assert missing and all(key.startswith("fine_head.") for key in missing) and not unexpected
    with torch.no_grad():
        assert torch.equal(fine(pixel_values).ab, plain(pixel_values).ab)  # a new fine head changes nothing
        # with DUpsampling silenced, what colour remains is the fine head's, and it varies within a 32x32 block
        torch.nn.init.zeros_(fine.head.reconstruction.weight)
        torch.nn.init.zeros_(fine.head.reconstruction.bias)
        torch.nn.init.normal_(fine.fine_head.projection.weight, std=0.5)
        residual = fine(pixel_values).ab - fine.dlsa.hint_propagation(pixel_values)[:, :2]
    assert residual[:, :, :32, :32].flatten(2).std(-1).amin() > 1e-3
    labels = torch.randn(2, 2, 64, 64) * 0.3
    fine.train()(pixel_values, labels=labels).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in fine.fine_head.parameters())
    fine.save_pretrained(tmp_path)
    reloaded = DlsaForColorization.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(pixel_values).ab, fine.eval()(pixel_values).ab)
    with pytest.raises(ValueError, match="fine_head_channels must be >= 0"):
        DlsaConfig(fine_head_channels=-1)
