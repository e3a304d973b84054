"""Turning a training checkpoint into a small, loadable model folder (used for the bundled default model).

Nothing here unpickles an object: weights come from safetensors files, and the EMA state of a checkpoint written
before checkpoints held ``model_ema/`` is read with ``torch.load(weights_only=True)``, which takes tensors and plain
values only.
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import torch
from safetensors.torch import load_file

from .checkpoints import EMA_FOLDER, MODEL_FOLDER

LEGACY_EMA_FILE = "custom_checkpoint_0.pkl"
"""Where checkpoints written before ``model_ema/`` kept the EMA state (accelerate's custom-object pickle)."""


def load_checkpoint_into(model: torch.nn.Module, checkpoint: str | Path, use_ema: bool = True) -> torch.nn.Module:
    """Load a training checkpoint's weights into ``model``: its EMA weights when saved and ``use_ema``."""
    checkpoint = Path(checkpoint)
    folder = checkpoint / (EMA_FOLDER if use_ema and (checkpoint / EMA_FOLDER).is_dir() else MODEL_FOLDER)
    if not folder.is_dir():
        return load_legacy_checkpoint_into(model, checkpoint, use_ema)
    model.load_state_dict(type(model).from_pretrained(folder).state_dict())
    return model


def load_legacy_checkpoint_into(model: torch.nn.Module, checkpoint: Path, use_ema: bool) -> torch.nn.Module:
    """A checkpoint written before checkpoints held ``model/``: accelerate's ``model.safetensors`` and, with EMA,
    the EMA state in :data:`LEGACY_EMA_FILE`, read with ``weights_only=True`` (a pickle that holds anything but
    tensors and plain values is refused, never run)."""
    model.load_state_dict(load_file(str(checkpoint / "model.safetensors")))
    ema_file = checkpoint / LEGACY_EMA_FILE
    if not (use_ema and ema_file.exists()):
        return model
    try:
        shadow = torch.load(ema_file, map_location="cpu", weights_only=True)["shadow_params"]
    except pickle.UnpicklingError as error:
        reason = str(error).splitlines()[0]
        raise ValueError(f"{ema_file}: not an EMA state of tensors and numbers, refused ({reason})") from None
    parameters = list(model.parameters())
    if len(shadow) != len(parameters):
        raise ValueError(f"{ema_file}: EMA state holds {len(shadow)} tensors, the model {len(parameters)}")
    with torch.no_grad():
        for parameter, average in zip(parameters, shadow):
            parameter.copy_(average)
    return model


def export_half_precision(model: torch.nn.Module, processor, output_dir: str | Path) -> Path:
    """Save a copy of ``model`` with fp16 weights (half the size) that loads back as an fp32 model, plus its
    processor; ``model`` itself keeps its weights and dtype."""
    output_dir = Path(output_dir)
    half = copy.deepcopy(model).to(torch.float16)
    half.save_pretrained(output_dir)
    half.config.dtype = "float32"
    half.config.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    return output_dir
