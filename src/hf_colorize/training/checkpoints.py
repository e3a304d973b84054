"""Checkpoints of a training run: ``accelerator.save_state`` folders that are also loadable models, written whole
or not at all, with a manifest that a resumed run verifies.

A ``checkpoint-N`` folder holds:

- ``model/`` (and ``model_ema/`` with ``--use_ema``): ``save_pretrained`` output and the image processor, so
  ``from_pretrained("OUTPUT_DIR/checkpoint-N/model")`` and ``pipeline(model=...)`` load it;
- ``discriminator.safetensors`` for an adversarial family;
- ``trainer_state.json``: the step, the batches read, the EMA's counters and the undecodable images met;
- accelerate's own state: ``optimizer.bin`` (``optimizer_1.bin`` for a discriminator), ``scheduler.bin``,
  ``random_states_0.pkl`` (and ``scaler.pt`` under fp16);
- ``manifest.json``: the size and sha256 of every other file, written last.

It is written as ``.tmp-checkpoint-N`` and renamed once complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from ..images import OutputWriteError

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
MANIFEST = "manifest.json"
TRAINER_STATE = "trainer_state.json"
MODEL_FOLDER = "model"
EMA_FOLDER = "model_ema"
DISCRIMINATOR_FILE = "discriminator.safetensors"


def checkpoint_steps(output_dir: Path) -> list[int]:
    """Steps of the ``checkpoint-N`` folders in ``output_dir``, oldest first (complete or not: see
    :func:`checkpoint_problem`)."""
    if not output_dir.is_dir():
        return []
    matches = (CHECKPOINT_PATTERN.match(path.name) for path in output_dir.iterdir() if path.is_dir())
    return sorted(int(match.group(1)) for match in matches if match)


def file_sha256(path: Path, chunk_size: int = 2**20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_entries(folder: Path) -> list[str]:
    """The files of ``folder`` a manifest lists: all but the manifest, as relative POSIX paths."""
    files = (path for path in folder.rglob("*") if path.is_file() and path != folder / MANIFEST)
    return sorted(path.relative_to(folder).as_posix() for path in files)


def write_manifest(folder: Path) -> None:
    """``folder/manifest.json``: the size and sha256 of every file in ``folder``."""
    entries = {
        name: {"size": (folder / name).stat().st_size, "sha256": file_sha256(folder / name)}
        for name in manifest_entries(folder)
    }
    (folder / MANIFEST).write_text(json.dumps(entries, indent=1) + "\n")


def checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a complete checkpoint (no manifest; a file missing, added, cut short or changed since
    its manifest was written), or ``None`` when every file verifies."""
    try:
        entries = json.loads((folder / MANIFEST).read_text())
        sizes = {name: int(entry["size"]) for name, entry in entries.items()}
    except FileNotFoundError:
        return f"it has no {MANIFEST}"
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return f"its {MANIFEST} is unreadable"
    unlisted = sorted(set(manifest_entries(folder)) - set(sizes))
    if unlisted:
        return f"{unlisted[0]} is not in its manifest"
    for name, size in sizes.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size:,} bytes, its manifest says {size:,}"
        if file_sha256(path) != entries[name]["sha256"]:
            return f"{name} does not match its sha256 in the manifest"
    return None


def write_problem(path: Path, error: Exception) -> str:
    """The reason a write under ``path`` failed, in words: the system's (``Permission denied``, ``No space left on
    device``), or the writer's first line and the space left on the disk."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    free = shutil.disk_usage(existing).free
    return f"{str(error).splitlines()[0] if str(error) else type(error).__name__}; {free / 2**20:,.0f} MiB free there"


@contextmanager
def writing(path: Path, what: str) -> Iterator[None]:
    """Turn a write that fails under ``path`` (a read-only folder, a full disk) into one :class:`OutputWriteError`
    that names ``path`` and ``what`` was written. The writers fail with ``OSError``, ``RuntimeError``
    (``torch.save``) or ``SafetensorError``."""
    try:
        yield
    except OutputWriteError:
        raise
    except (OSError, RuntimeError, SafetensorError) as error:
        raise OutputWriteError(f"{path}: cannot write {what} ({write_problem(path, error)})") from error


def save_checkpoint(accelerator, output_dir: Path, step: int, total_limit: int | None) -> Path:
    """``accelerator.save_state`` and the manifest into ``.tmp-checkpoint-N``, renamed ``checkpoint-N`` once
    complete; the oldest beyond ``total_limit`` are removed. A write that fails removes the partial folder and raises
    :class:`OutputWriteError`."""
    final = output_dir / f"checkpoint-{step}"
    temporary = output_dir / f".tmp-checkpoint-{step}"
    if accelerator.is_main_process:
        shutil.rmtree(temporary, ignore_errors=True)
    accelerator.wait_for_everyone()
    try:
        with writing(final, "the checkpoint"):
            accelerator.save_state(str(temporary))
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                write_manifest(temporary)
                shutil.rmtree(final, ignore_errors=True)
                os.replace(temporary, final)
    except OutputWriteError:
        if accelerator.is_main_process:
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    if accelerator.is_main_process and total_limit:
        for old in checkpoint_steps(output_dir)[:-total_limit]:
            shutil.rmtree(output_dir / f"checkpoint-{old}", ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def remove_partial_checkpoints(output_dir: Path) -> None:
    """Remove the ``.tmp-checkpoint-*`` folders a run left when it was killed or its disk filled up."""
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
