"""Turning a training checkpoint into a small, loadable model folder (used for the bundled default model)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file


def load_checkpoint_into(model: torch.nn.Module, checkpoint: str | Path, use_ema: bool = True) -> torch.nn.Module:
    """Load an ``accelerator.save_state`` checkpoint's weights into ``model``: its EMA weights when saved."""
    checkpoint = Path(checkpoint)
    model.load_state_dict(load_file(str(checkpoint / "model.safetensors")))
    ema_file = checkpoint / "custom_checkpoint_0.pkl"
    if use_ema and ema_file.exists():
        shadow = torch.load(ema_file, map_location="cpu", weights_only=False)["shadow_params"]
        parameters = list(model.parameters())
        if len(shadow) != len(parameters):
            raise ValueError(f"{ema_file}: EMA state holds {len(shadow)} tensors, the model {len(parameters)}")
        with torch.no_grad():
            for parameter, average in zip(parameters, shadow):
                parameter.copy_(average)
    return model


def export_half_precision(model: torch.nn.Module, processor, output_dir: str | Path) -> Path:
    """Save ``model`` with fp16 weights (half the size) that load back as an fp32 model, plus its processor."""
    output_dir = Path(output_dir)
    model.to(torch.float16).save_pretrained(output_dir)
    model.to(torch.float32)
    config = model.config
    config.dtype = "float32"
    config.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    return output_dir
