from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_cartoon_config
from safetensors.torch import load_file
from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageToImage, pipeline

from hf_colorize import CartoonColtranConfig, CartoonColtranForColorization, CartoonColtranImageProcessor
from hf_colorize.color import rgb_to_lab
from hf_colorize.images import load_lightness, load_rgb
from hf_colorize.models.cartoon_coltran.modeling_cartoon_coltran import coarse_ab, dequantize_colors, quantize_colors
from hf_colorize.models.cartoon_coltran.training_cartoon_coltran import CartoonColtranDiscriminator


def tiny_model(**overrides) -> CartoonColtranForColorization:
    torch.manual_seed(0)
    model = CartoonColtranForColorization(tiny_cartoon_config(**overrides)).eval()
    for parameter in model.parameters():  # away from the identity start of the conditioning and the upgrader
        parameter.data += 0.05 * torch.randn_like(parameter)
    return model


def grey_and_colors(batch: int = 2, size: int = 32, coarse: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    grey = torch.rand(batch, 1, size, size, generator=generator) * 2 - 1
    return grey, torch.randint(0, 512, (batch, coarse, coarse), generator=generator)


def test_three_bit_quantise_dequantise_round_trip():
    indices = torch.arange(512).view(8, 8, 8)
    assert torch.equal(quantize_colors(dequantize_colors(indices, 3), 3), indices)
    rgb = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    assert (dequantize_colors(quantize_colors(rgb, 3), 3) - rgb).abs().max() <= 1 / 16 + 1e-6
    assert quantize_colors(torch.tensor([1.0, 0.0, 0.0])[:, None, None], 3).item() == 7 * 64  # red most significant
    assert quantize_colors(torch.ones(3, 1, 1), 3).item() == 511


def test_logits_depend_only_on_earlier_pixels():
    model = tiny_model()
    grey, colors = grey_and_colors()
    changed = colors.clone()
    row, column = 3, 4
    changed[:, row, column] = (changed[:, row, column] + 100) % 512
    with torch.no_grad():
        difference = (model.cartoon_coltran(grey, colors).logits - model.cartoon_coltran(grey, changed).logits).abs()
    per_pixel = difference.amax(dim=-1).flatten(1)  # raster order
    position = row * 8 + column
    assert per_pixel[:, : position + 1].max() == 0  # earlier pixels and the pixel itself: unchanged
    assert per_pixel[:, position + 1 :].max() > 1e-4  # later pixels read it


def test_cached_decoding_gives_the_parallel_logits():
    model = tiny_model()
    grey, colors = grey_and_colors()
    with torch.no_grad():
        parallel = model.cartoon_coltran(grey, colors).logits
        context = model.cartoon_coltran.encode(grey)
    stepped = torch.zeros_like(parallel)

    def teacher(row, column, logits):
        stepped[:, row, column] = logits
        return colors[:, row, column]

    decoded, calls = model.cartoon_coltran.decode(context, teacher)
    assert torch.equal(decoded, colors) and calls == 1 + 8 + 8 * 8
    torch.testing.assert_close(stepped, parallel, atol=1e-5, rtol=1e-4)


def test_sampling_is_reproducible_by_seed_and_diverse():
    model = tiny_model()
    grey, _ = grey_and_colors(batch=1)

    def sample(seed, **options):
        return model.generate(grey, num_samples=3, generator=torch.Generator().manual_seed(seed), **options)

    first, again, other = sample(0), sample(0), sample(1)
    assert first.ab.shape == (3, 2, 32, 32) and first.coarse_colors.shape == (3, 8, 8)
    assert first.model_calls == 1 + 8 + 64
    assert torch.equal(first.coarse_colors, again.coarse_colors) and torch.equal(first.ab, again.ab)
    assert not torch.equal(first.coarse_colors, other.coarse_colors)
    assert not torch.equal(first.coarse_colors[0], first.coarse_colors[1])  # the samples differ
    cold = sample(0, temperature=1e-4).coarse_colors
    assert torch.equal(cold[0], cold[1])  # near zero temperature: the most likely colours
    with pytest.raises(ValueError, match="temperature must be positive"):
        sample(0, temperature=0)


SEEDED_SAMPLES = load_file(Path(__file__).parent / "fixtures" / "cartoon_coltran_samples.safetensors")
"""Seeded samples drawn by the implementation before sampling moved from ``forward`` to ``generate`` (commit
9056603, ``model(grey, num_samples=..., generator=...)``): the tiny models below and the same seeds must still
give these colours bit for bit, and this ab to float32 rounding (another CPU's kernels may sum in another order: an
AMD EPYC differs by 1.5e-6 from the Intel machine that recorded them)."""


def test_seeded_samples_are_those_of_the_former_implementation():
    model = tiny_model()
    grey, _ = grey_and_colors(batch=2)
    warm = model.generate(grey, num_samples=2, generator=torch.Generator().manual_seed(0))
    cold = model.generate(grey[:1], num_samples=3, generator=torch.Generator().manual_seed(3), temperature=0.5)
    for name, outputs in (("warm", warm), ("cold", cold)):
        assert torch.equal(outputs.coarse_colors, SEEDED_SAMPLES[f"{name}.coarse_colors"]), name
        torch.testing.assert_close(outputs.ab, SEEDED_SAMPLES[f"{name}.ab"], rtol=0, atol=1e-5, msg=name)


def test_pipeline_samples_are_those_of_the_former_implementation(tiny_cartoon_dir, color_image):
    pipe = pipeline("image-colorization", model=str(tiny_cartoon_dir))
    drawing = color_image.convert("L")
    expected = pipe.image_processor.post_process_colorization(
        SEEDED_SAMPLES["pipeline.ab"], pipe.image_processor(drawing)["lightness"] * 3
    )
    samples = pipe(drawing, num_samples=3, seed=0)
    assert [sample.size for sample in samples] == [image.size for image in expected]
    for sample, image in zip(samples, expected):  # the same picture, to one level of rounding of float32 noise
        assert np.abs(np.asarray(sample, dtype=int) - np.asarray(image, dtype=int)).max() <= 1


def test_loss_terms():
    grey, colors = grey_and_colors()
    outputs = {weight: tiny_model(color_loss_lambda=weight)(grey, color_labels=colors) for weight in (0.0, 0.99, 1.0)}
    assert outputs[1.0].loss == outputs[1.0].color_loss and outputs[0.0].loss == outputs[0.0].auxiliary_loss
    full = outputs[0.99]
    torch.testing.assert_close(full.loss, 0.99 * full.color_loss + 0.01 * full.auxiliary_loss)
    assert full.color_loss > 0 and full.auxiliary_loss > 0
    full.loss.backward()

    model = tiny_model(mse_loss_weight=10.0)
    labels = torch.rand(2, 2, 32, 32) * 0.4 - 0.2
    upgraded = model(grey, coarse_colors=colors, labels=labels)
    torch.testing.assert_close(upgraded.loss, 10.0 * torch.nn.functional.mse_loss(upgraded.ab, labels))
    assert upgraded.ab.shape == (2, 2, 32, 32) and upgraded.model_calls is None


def test_hidden_states_and_attentions_of_each_mode():
    model = tiny_model()
    grey, colors = grey_and_colors()
    upgrader_layers = 2 + 1 + 2  # encoder units, residual blocks, decoder stages and the output convolution
    requests = {"output_hidden_states": True, "output_attentions": True}
    with torch.no_grad():
        stage_1 = model(grey, color_labels=colors, **requests)
        stage_2 = model(grey, coarse_colors=colors, **requests)
        sampled = model.generate(grey[:1], num_samples=2, **requests)
    assert len(stage_1.hidden_states) == 1 + 2 + 2 + 1  # embeddings, encoder, outer and inner decoder layers
    assert {tuple(state.shape) for state in stage_1.hidden_states} == {(2, 8, 8, 16)}
    assert [tuple(weights.shape) for weights in stage_1.attentions] == [(16, 2, 8, 8)] * 5
    masked = stage_1.attentions[3]  # the outer decoder's column attention: rows see the rows above only
    seen = torch.ones(8, 8, dtype=torch.bool).tril()
    assert masked[..., ~seen].eq(0).all() and masked[..., seen].gt(0).all()
    assert len(stage_2.hidden_states) == upgrader_layers and stage_2.hidden_states[-1].shape == (2, 2, 32, 32)
    assert stage_2.attentions == ()  # the upgrading network has no attention
    encoder_states = [tuple(state.shape) for state in sampled.hidden_states[:3]]
    assert encoder_states == [(1, 8, 8, 16)] * 3  # the encoder's, once per image
    assert len(sampled.hidden_states) == 3 + upgrader_layers and sampled.hidden_states[-1].shape == (2, 2, 32, 32)
    assert [tuple(weights.shape) for weights in sampled.attentions] == [(8, 2, 8, 8)] * 2  # the encoder's


def test_upgrader_starts_as_bilinear_interpolation():
    torch.manual_seed(0)
    model = CartoonColtranForColorization(tiny_cartoon_config()).eval()
    grey, colors = grey_and_colors()
    with torch.no_grad():
        torch.testing.assert_close(model(grey, coarse_colors=colors).ab, coarse_ab(colors, 3, 32).clamp(-1, 1))


def test_discriminator_judges_patches():
    config = tiny_cartoon_config()
    logits = CartoonColtranDiscriminator(config)(torch.zeros(2, 5, 32, 32))
    assert logits.shape == (2, 1, 8, 8)


def test_inputs_and_config_are_checked():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"pixel_values must be \(batch, 1, height, width\)"):
        model(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="color_labels must be"):
        model(torch.zeros(1, 1, 32, 32), color_labels=torch.zeros(1, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="num_samples must be at least 1"):
        model.generate(torch.zeros(1, 1, 32, 32), num_samples=0)
    with pytest.raises(ValueError, match=r"pixel_values must be \(batch, 1, height, width\)"):
        model.generate(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"pass color_labels \(stage 1\) or coarse_colors \(stage 2\).*call generate"):
        model(torch.zeros(1, 1, 32, 32))  # forward is the training path: sampling is generate's
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    with pytest.raises(ValueError, match="not both"):
        model(torch.zeros(1, 1, 32, 32), color_labels=labels, coarse_colors=labels)
    with pytest.raises(ValueError, match="multiple of num_attention_heads"):
        CartoonColtranConfig(hidden_size=30, num_attention_heads=4)
    with pytest.raises(ValueError, match="multiple of coarse_size"):
        CartoonColtranConfig(image_size=100)
    assert CartoonColtranConfig().num_colors == 512


def test_save_and_auto_load_round_trip(tiny_cartoon_dir):
    assert isinstance(AutoConfig.from_pretrained(tiny_cartoon_dir), CartoonColtranConfig)
    assert isinstance(AutoImageProcessor.from_pretrained(tiny_cartoon_dir), CartoonColtranImageProcessor)
    loaded = AutoModelForImageToImage.from_pretrained(tiny_cartoon_dir).eval()
    torch.manual_seed(0)
    model = CartoonColtranForColorization(tiny_cartoon_config())
    torch.nn.init.normal_(model.upgrader.decoder[-1].weight, std=0.05)
    grey, colors = grey_and_colors()
    with torch.no_grad():
        torch.testing.assert_close(
            model.eval()(grey, color_labels=colors).logits, loaded(grey, color_labels=colors).logits
        )
        torch.testing.assert_close(model(grey, coarse_colors=colors).ab, loaded(grey, coarse_colors=colors).ab)


def test_pipeline_samples(tiny_cartoon_dir, color_image):
    pipe = pipeline("image-colorization", model=str(tiny_cartoon_dir))
    drawing = color_image.convert("L")
    samples = pipe(drawing, num_samples=3, seed=0)
    assert isinstance(samples, list) and len(samples) == 3
    assert all(sample.size == drawing.size and sample.mode == "RGB" for sample in samples)
    for sample in samples:
        assert (load_lightness(sample) - load_lightness(drawing)).abs().mean() < 1  # the input's own L
    assert len({np.asarray(sample).tobytes() for sample in samples}) == 3  # different colourings
    again = pipe(drawing, num_samples=3, seed=0)
    assert [np.asarray(a).tobytes() for a in again] == [np.asarray(s).tobytes() for s in samples]
    other = pipe(drawing, num_samples=3, seed=1)
    assert [np.asarray(a).tobytes() for a in other] != [np.asarray(s).tobytes() for s in samples]
    single = pipe(drawing, seed=0)
    assert single.size == drawing.size and rgb_to_lab(load_rgb(single))[1:].abs().mean() > 0.5
    batch = pipe([drawing, color_image], num_samples=2, seed=0, batch_size=2)
    assert [len(item) for item in batch] == [2, 2]


def test_pipeline_refuses_other_requests(tiny_cartoon_dir, color_image):
    pipe = pipeline("image-colorization", model=str(tiny_cartoon_dir))
    with pytest.raises(ValueError, match="does not take colour hints: use a 'dlsa' model"):
        pipe(color_image, hints=[(1, 1, "#ff0000")])
    with pytest.raises(ValueError, match="does not take a reference image: use a 'axial_exemplar' model"):
        pipe(color_image, reference=color_image)
    with pytest.raises(ValueError, match="num_samples must be a whole number"):
        pipe(color_image, num_samples=0)
