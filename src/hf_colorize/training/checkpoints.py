"""Checkpoints of a training run: ``accelerator.save_state`` folders that are also loadable models, written whole
or not at all.

A ``checkpoint-N`` folder holds:

- ``model/`` (and ``model_ema/`` with ``--use_ema``): ``save_pretrained`` output and the image processor, so
  ``from_pretrained("OUTPUT_DIR/checkpoint-N/model")`` and ``pipeline(model=...)`` load it;
- ``discriminator.safetensors`` for an adversarial family;
- ``trainer_state.json``: the step, the batches read, the EMA's counters and the undecodable images met;
- accelerate's own state: ``optimizer.bin`` (``optimizer_1.bin`` for a discriminator), ``scheduler.bin``,
  ``random_states_0.pkl`` (and ``scaler.pt`` under fp16).

It is written as ``.tmp-checkpoint-N`` and renamed once complete.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE = "trainer_state.json"
MODEL_FOLDER = "model"
EMA_FOLDER = "model_ema"
DISCRIMINATOR_FILE = "discriminator.safetensors"


def checkpoint_steps(output_dir: Path) -> list[int]:
    """Steps of the complete checkpoints in ``output_dir``, oldest first."""
    if not output_dir.is_dir():
        return []
    matches = (CHECKPOINT_PATTERN.match(path.name) for path in output_dir.iterdir() if path.is_dir())
    return sorted(int(match.group(1)) for match in matches if match)


def save_checkpoint(accelerator, output_dir: Path, step: int, total_limit: int | None) -> Path:
    """``accelerator.save_state`` into ``.tmp-checkpoint-N``, renamed ``checkpoint-N`` once complete; the oldest
    beyond ``total_limit`` are removed."""
    final = output_dir / f"checkpoint-{step}"
    temporary = output_dir / f".tmp-checkpoint-{step}"
    if accelerator.is_main_process:
        shutil.rmtree(temporary, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(temporary, final)
        if total_limit:
            for old in checkpoint_steps(output_dir)[:-total_limit]:
                shutil.rmtree(output_dir / f"checkpoint-{old}", ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def remove_partial_checkpoints(output_dir: Path) -> None:
    """Remove the ``.tmp-checkpoint-*`` folders a run left when it was killed."""
    for leftover in output_dir.glob(".tmp-checkpoint-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def ema_state_dict(model: torch.nn.Module, ema) -> dict[str, torch.Tensor]:
    """``model``'s state dict with each parameter replaced by its moving average (buffers as they are)."""
    state = model.state_dict()
    state.update(zip((name for name, _ in model.named_parameters()), ema.shadow_params))
    return state


def ema_counters(ema) -> dict:
    """The EMA's state without its weights: decay, step count and warm-up settings (plain numbers)."""
    return {name: value for name, value in ema.state_dict().items() if name != "shadow_params"}


def save_models(folder: Path, model, processor, ema=None, discriminator: torch.nn.Module | None = None) -> None:
    """``model/`` (and ``model_ema/``) with ``save_pretrained`` and the processor, and the discriminator's weights."""
    model.save_pretrained(folder / MODEL_FOLDER)
    processor.save_pretrained(folder / MODEL_FOLDER)
    if ema is not None:
        model.save_pretrained(folder / EMA_FOLDER, state_dict=ema_state_dict(model, ema))
        processor.save_pretrained(folder / EMA_FOLDER)
    if discriminator is not None:
        save_model(discriminator, str(folder / DISCRIMINATOR_FILE))


def load_models(folder: Path, model, ema=None, ema_state: dict | None = None, discriminator=None) -> None:
    """Load what :func:`save_models` wrote into the run's ``model``, ``ema`` (with its counters, ``ema_state``) and
    ``discriminator``."""
    model.load_state_dict(type(model).from_pretrained(folder / MODEL_FOLDER).state_dict())
    if ema is not None:
        averages = type(model).from_pretrained(folder / EMA_FOLDER).state_dict()
        shadow = [averages[name].to(parameter.device) for name, parameter in model.named_parameters()]
        ema.load_state_dict({**(ema_state or {}), "shadow_params": shadow})
    if discriminator is not None:
        load_model(discriminator, str(folder / DISCRIMINATOR_FILE))
