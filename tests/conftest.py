import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import hf_colorize  # noqa: E402, F401
from hf_colorize import (  # noqa: E402
    AxialExemplarConfig,
    AxialExemplarForColorization,
    AxialExemplarImageProcessor,
    CartoonColtranConfig,
    CartoonColtranForColorization,
    CartoonColtranImageProcessor,
    DlsaConfig,
    DlsaForColorization,
    DlsaImageProcessor,
    SmsanetConfig,
    SmsanetForColorization,
    SmsanetImageProcessor,
)
from hf_colorize.backbones import EfficientNetLiteConfig  # noqa: E402

TINY_SIZE = 64


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked ``hub`` (they need the real Hugging Face Hub) while ``HF_HUB_OFFLINE`` is set."""
    if os.environ.get("HF_HUB_OFFLINE", "0") in ("0", "", "false"):
        return
    offline = pytest.mark.skip(reason="needs the Hugging Face Hub; HF_HUB_OFFLINE is set")
    for item in items:
        if "hub" in item.keywords:
            item.add_marker(offline)


def tiny_config(**overrides) -> DlsaConfig:
    options = dict(
        image_size=TINY_SIZE,
        embed_dim=8,
        hidden_sizes=[8, 16, 32, 32],
        depths=[1, 1, 1, 1],
        num_heads=[1, 2, 2, 2],
        window_size=4,
        drop_path_rate=0.0,
    )
    options.update(overrides)
    return DlsaConfig(**options)


def tiny_smsanet_config(**overrides) -> SmsanetConfig:
    options = dict(image_size=TINY_SIZE, hidden_sizes=[8, 8, 16, 16, 16, 16, 16, 8, 8, 8], block_depths=[1] * 10)
    options.update(overrides)
    return SmsanetConfig(**options)


def tiny_efficientnet_lite_config(**overrides) -> EfficientNetLiteConfig:
    """A tiny EfficientNet-Lite returning five feature maps, at strides 2 to 32."""
    options = dict(
        stem_channels=8,
        hidden_sizes=[8, 8, 16, 16, 16, 24, 24],
        depths=[1] * 7,
        head_channels=32,
        out_features=["stage1", "stage2", "stage3", "stage5", "stage7"],
    )
    return EfficientNetLiteConfig(**{**options, **overrides})


def tiny_smsanet_backbone_config(**overrides) -> SmsanetConfig:
    """The tiny smsanet on the tiny EfficientNet-Lite backbone."""
    backbone = tiny_efficientnet_lite_config().to_dict()
    return tiny_smsanet_config(backbone_config=backbone, decoder_hidden_sizes=[16, 8, 8, 8], **overrides)


@pytest.fixture
def checkpoint_replays(monkeypatch: pytest.MonkeyPatch) -> list:
    """The functions run under ``torch.utils.checkpoint`` by models whose gradient checkpointing is enabled from now
    on (transformers binds its checkpoint function when it is enabled)."""
    import transformers.modeling_utils

    replays = []
    checkpoint = transformers.modeling_utils.checkpoint

    def counted_checkpoint(function, *args, **kwargs):
        replays.append(function)
        return checkpoint(function, *args, **kwargs)

    monkeypatch.setattr(transformers.modeling_utils, "checkpoint", counted_checkpoint)
    return replays


def tiny_axial_exemplar_config(**overrides) -> AxialExemplarConfig:
    options = dict(
        image_size=TINY_SIZE,
        backbone_hidden_sizes=[8, 8, 16, 16, 16],
        backbone_depths=[1, 1, 1, 1, 3],
        hidden_size=16,
        num_attention_heads=4,
        max_relative_position=8,
        prediction_head_size=8,
    )
    options.update(overrides)
    return AxialExemplarConfig(**options)


def tiny_dlsa_backbone_config(**overrides) -> DlsaConfig:
    """The tiny dlsa with a semantic branch on the tiny EfficientNet-Lite backbone (maps at strides 4 to 32)."""
    backbone = tiny_efficientnet_lite_config(out_features=["stage2", "stage3", "stage5", "stage7"]).to_dict()
    return tiny_config(backbone_config=backbone, **overrides)


def tiny_axial_exemplar_backbone_config(**overrides) -> AxialExemplarConfig:
    """The tiny axial_exemplar on the tiny EfficientNet-Lite backbone."""
    return tiny_axial_exemplar_config(backbone_config=tiny_efficientnet_lite_config().to_dict(), **overrides)


def tiny_cartoon_config(**overrides) -> CartoonColtranConfig:
    options = dict(
        image_size=32,
        coarse_size=8,
        hidden_size=16,
        num_attention_heads=2,
        intermediate_size=32,
        encoder_layers=1,
        outer_decoder_layers=1,
        inner_decoder_layers=1,
        upgrader_hidden_sizes=[8, 16],
        upgrader_residual_blocks=1,
        discriminator_hidden_size=8,
        discriminator_layers=2,
    )
    options.update(overrides)
    return CartoonColtranConfig(**options)


@pytest.fixture(scope="session")
def tiny_cartoon_dir(tmp_path_factory):
    """A tiny random cartoon_coltran model (upgrader output away from the plain interpolation) and processor."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-cartoon")
    model = CartoonColtranForColorization(tiny_cartoon_config())
    torch.nn.init.normal_(model.upgrader.decoder[-1].weight, std=0.05)
    model.eval().save_pretrained(folder)
    CartoonColtranImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random dlsa model and processor saved with save_pretrained."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-dlsa")
    DlsaForColorization(tiny_config()).save_pretrained(folder)
    DlsaImageProcessor(size={"height": TINY_SIZE, "width": TINY_SIZE}).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_smsanet_dir(tmp_path_factory):
    """A tiny random smsanet model (head away from the all-grey start) and processor, saved."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-smsanet")
    model = SmsanetForColorization(tiny_smsanet_config())
    torch.nn.init.normal_(model.head.weight, std=0.1)
    model.save_pretrained(folder)
    SmsanetImageProcessor(size={"height": TINY_SIZE, "width": TINY_SIZE}).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_exemplar_dir(tmp_path_factory):
    """A tiny random axial_exemplar model (heads away from the all-grey start) and processor, saved."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-exemplar")
    model = AxialExemplarForColorization(tiny_axial_exemplar_config())
    for head in model.heads:
        torch.nn.init.normal_(head[-1].weight, std=0.05)
    model.eval().save_pretrained(folder)
    AxialExemplarImageProcessor(size={"height": TINY_SIZE, "width": TINY_SIZE}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def color_image() -> Image.Image:
    """A small colourful RGB image with smooth gradients and a saturated square."""
    rows, cols = np.mgrid[0:48, 0:80]
    rgb = np.stack([cols * 3, rows * 5, 255 - cols * 3], axis=-1).clip(0, 255).astype(np.uint8)
    rgb[10:20, 10:20] = (255, 0, 0)
    return Image.fromarray(rgb)


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    """Six random 90x72 training images."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for index in range(6):
        pixels = rng.integers(0, 255, (72, 90, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"image{index}.png")
    return folder


@pytest.fixture(scope="session")
def config_dir(tmp_path_factory):
    """A folder holding the tiny dlsa config, for ``--config``."""
    folder = tmp_path_factory.mktemp("config")
    tiny_config().save_pretrained(folder)
    return folder
