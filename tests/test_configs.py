"""Every family's typed configuration: bundled and published configs load, round-trip through to_dict / from_dict,
and a bad value raises the ValueError that names it."""

from pathlib import Path

import pytest
from transformers import AutoConfig, PreTrainedConfig

import hf_colorize
from hf_colorize import AxialExemplarConfig, CartoonColtranConfig, DlsaConfig, SmsanetConfig
from hf_colorize.pipeline import HUB_CONFIGS

CONFIG_FOLDERS = sorted(Path(folder) for folder in hf_colorize.BUNDLED_MODELS.values()) + sorted(
    folder for folder in HUB_CONFIGS.iterdir() if (folder / "config.json").is_file()
)


@pytest.mark.parametrize("folder", CONFIG_FOLDERS, ids=lambda folder: f"{folder.parent.name}/{folder.name}")
def test_bundled_and_published_configs_load_and_round_trip(folder: Path):
    config = AutoConfig.from_pretrained(folder)
    assert type(config) in (AxialExemplarConfig, CartoonColtranConfig, DlsaConfig, SmsanetConfig)
    as_dict = config.to_dict()
    again = type(config).from_dict(as_dict)
    assert again.to_dict() == as_dict
    assert again.stride == config.stride


def test_defaults_round_trip_and_are_typed_fields():
    for config_class in (AxialExemplarConfig, CartoonColtranConfig, DlsaConfig, SmsanetConfig):
        config = config_class()
        assert config_class.from_dict(config.to_dict()).to_dict() == config.to_dict()
        assert "image_size" in config_class.__dataclass_fields__


def test_smsanet_backbone_sub_config_round_trips():
    config = AutoConfig.from_pretrained(HUB_CONFIGS / "smsanet-lite0")
    assert isinstance(config.backbone_config, PreTrainedConfig)
    assert config.backbone_config.model_type == "efficientnet_lite" and config.stride == 32
    assert config.head_channels == config.decoder_hidden_sizes[-1]
    as_dict = config.to_dict()
    assert isinstance(as_dict["backbone_config"], dict)
    again = SmsanetConfig.from_dict(as_dict)
    assert isinstance(again.backbone_config, PreTrainedConfig) and again.to_dict() == as_dict
    assert SmsanetConfig.sub_configs == {"backbone_config": AutoConfig}


@pytest.mark.parametrize(
    "config_class, options, message",
    [
        (DlsaConfig, {"depths": [1, 1]}, r"depths \[1, 1\], num_heads \[3, 6, 12, 24\] and hidden_sizes"),
        (DlsaConfig, {"hint_reach_gating": True}, "hint_reach_gating needs hint_propagation"),
        (DlsaConfig, {"embed_dim": 8}, r"num_heads\[0\] = 3 does not divide the 8 channels of stage 0"),
        (DlsaConfig, {"worse_than_grey_weight": -1.0}, "worse_than_grey_weight must be >= 0, got -1.0"),
        (SmsanetConfig, {"block_depths": [1] * 9}, "block_depths needs one entry per block conv1-conv10"),
        (SmsanetConfig, {"chroma_gain": 0.0}, "chroma_gain must be positive, got 0.0"),
        (SmsanetConfig, {"attention_blocks": [11]}, r"attention_blocks \[11\] must be block numbers 1-10"),
        (AxialExemplarConfig, {"num_attention_heads": 3}, "hidden_size 256 is not a multiple of num_attention_heads 3"),
        (AxialExemplarConfig, {"histogram_bins": 1}, "histogram_bins must be at least 2, got 1"),
        (CartoonColtranConfig, {"color_bits": 9}, "color_bits must be 1-8, got 9"),
        (CartoonColtranConfig, {"image_size": 100}, "image_size 100 must be a multiple of coarse_size 64"),
    ],
)
def test_bad_values_raise_the_value_error_that_names_them(config_class, options, message):
    with pytest.raises(ValueError, match=message):
        config_class(**options)
