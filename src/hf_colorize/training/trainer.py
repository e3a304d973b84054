"""The trainer behind ``examples/train.py``: accelerate, checkpoints that survive a kill, exact resume, EMA.

Every function takes plain arguments so that tests can drive a run end to end.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..models import DlsaConfig, DlsaForColorization, DlsaImageProcessor
from .data import DataError, hint_model_inputs, load_image_dataset, random_resized_crop

logger = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")


class TrainingArgumentError(ValueError):
    """A bad command-line argument, found before any work starts."""


@dataclass(frozen=True)
class TrainingFamily:
    """What the trainer needs of a model family: its classes and how to build inputs from RGB crops."""

    config_class: type
    model_class: type
    processor_class: type
    make_inputs: Callable[[torch.Tensor, argparse.Namespace], dict[str, torch.Tensor]]


TRAINING_FAMILIES: dict[str, TrainingFamily] = {
    "dlsa": TrainingFamily(
        DlsaConfig, DlsaForColorization, DlsaImageProcessor, lambda rgb, args: hint_model_inputs(rgb, args.max_hints)
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train or fine-tune an hf_colorize model.")
    model = parser.add_argument_group("model")
    model.add_argument("--model_type", choices=sorted(TRAINING_FAMILIES), help="family to train")
    model.add_argument("--config", help="folder or config.json of the variant to train from scratch")
    model.add_argument("--pretrained_model_name_or_path", help="saved model to fine-tune")
    data = parser.add_argument_group("data")
    data.add_argument("--train_data_dir", nargs="+", help="image folder(s), loaded as imagefolder datasets")
    data.add_argument("--dataset_name", help="Hub dataset to train on instead of a folder")
    data.add_argument("--dataset_config_name")
    data.add_argument("--split", default="train")
    data.add_argument("--image_column", default="image")
    data.add_argument("--resolution", type=int, default=224, help="side of the square training crops")
    data.add_argument("--crop_min_scale", type=float, default=0.25, help="smallest crop area fraction")
    data.add_argument("--max_hints", type=int, default=128, help="hint families: hints per image ~ U(0, max)")
    data.add_argument("--dataloader_num_workers", type=int, default=0)
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--output_dir", required=True)
    optim.add_argument("--train_batch_size", type=int, default=16)
    optim.add_argument("--gradient_accumulation_steps", type=int, default=1)
    optim.add_argument("--max_train_steps", type=int, default=2000)
    optim.add_argument("--learning_rate", type=float, default=5e-4, help="AdamW peak rate (Sec. 4.3: 5e-4)")
    optim.add_argument("--weight_decay", type=float, default=0.05)
    optim.add_argument("--lr_warmup_steps", type=int, default=100)
    optim.add_argument("--max_grad_norm", type=float, default=1.0)
    optim.add_argument("--mixed_precision", choices=["no", "fp16", "bf16"], default="no")
    optim.add_argument("--seed", type=int, default=0)
    optim.add_argument("--use_ema", action="store_true", help="keep an EMA of the weights; it is what is saved")
    optim.add_argument("--ema_decay", type=float, default=0.999)
    state = parser.add_argument_group("checkpoints")
    state.add_argument("--checkpointing_steps", type=int, default=500)
    state.add_argument("--checkpoints_total_limit", type=int, default=3)
    state.add_argument("--resume_from_checkpoint", help="'latest' or a checkpoint folder")
    return parser


def validate_args(args: argparse.Namespace) -> None:
    """Stop before any work on arguments that cannot work, with one clear message."""
    if not (args.model_type or args.config or args.pretrained_model_name_or_path):
        raise TrainingArgumentError("give --model_type, --config or --pretrained_model_name_or_path")
    if args.config and not Path(args.config).exists():
        raise TrainingArgumentError(f"--config {args.config}: not found")
    if args.train_data_dir is None and args.dataset_name is None:
        raise TrainingArgumentError("give --train_data_dir or --dataset_name")
    for folder in args.train_data_dir or []:
        if not Path(folder).is_dir():
            raise TrainingArgumentError(f"--train_data_dir {folder}: folder not found")
    for name in ("train_batch_size", "gradient_accumulation_steps", "max_train_steps", "checkpointing_steps"):
        if getattr(args, name) < 1:
            raise TrainingArgumentError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.resume_from_checkpoint not in (None, "latest") and not Path(args.resume_from_checkpoint).is_dir():
        raise TrainingArgumentError(f"--resume_from_checkpoint {args.resume_from_checkpoint}: not found")


def load_family_and_model(args: argparse.Namespace) -> tuple[TrainingFamily, torch.nn.Module, object]:
    """The family, a model (fresh from a config, or pretrained) and its image processor."""
    from transformers import AutoConfig

    if args.pretrained_model_name_or_path:
        config = AutoConfig.from_pretrained(args.pretrained_model_name_or_path)
    elif args.config:
        config_path = Path(args.config)
        config = AutoConfig.from_pretrained(str(config_path.parent if config_path.is_file() else config_path))
    else:
        config = TRAINING_FAMILIES[args.model_type].config_class()
    if args.model_type and config.model_type != args.model_type:
        raise TrainingArgumentError(f"--model_type {args.model_type} but the config is a {config.model_type!r} model")
    if config.model_type not in TRAINING_FAMILIES:
        raise TrainingArgumentError(f"unknown model type {config.model_type!r}: one of {sorted(TRAINING_FAMILIES)}")
    family = TRAINING_FAMILIES[config.model_type]
    stride = getattr(config, "stride", 1)
    if args.resolution % stride:
        raise TrainingArgumentError(
            f"--resolution {args.resolution} is not a multiple of the {config.model_type} model's stride {stride}"
        )
    if args.pretrained_model_name_or_path:
        model = family.model_class.from_pretrained(args.pretrained_model_name_or_path)
    else:
        model = family.model_class(config)
    processor = family.processor_class(size={"height": config.image_size, "width": config.image_size})
    return family, model, processor


def checkpoint_steps(output_dir: Path) -> list[int]:
    """Steps of the complete checkpoints in ``output_dir``, oldest first."""
    if not output_dir.is_dir():
        return []
    matches = (CHECKPOINT_PATTERN.match(path.name) for path in output_dir.iterdir() if path.is_dir())
    return sorted(int(match.group(1)) for match in matches if match)


def save_checkpoint(accelerator, output_dir: Path, step: int, total_limit: int | None) -> Path:
    """``accelerator.save_state`` into a temporary folder, renamed into place once complete."""
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


def resolve_resume(args: argparse.Namespace, output_dir: Path) -> tuple[Path | None, int]:
    """The checkpoint to resume from and its step (``None, 0`` for a fresh start)."""
    if args.resume_from_checkpoint is None:
        return None, 0
    if args.resume_from_checkpoint == "latest":
        steps = checkpoint_steps(output_dir)
        if not steps:
            logger.warning("no checkpoint in %s: starting a fresh run", output_dir)
            return None, 0
        return output_dir / f"checkpoint-{steps[-1]}", steps[-1]
    path = Path(args.resume_from_checkpoint)
    match = CHECKPOINT_PATTERN.match(path.name)
    if not match:
        raise TrainingArgumentError(f"--resume_from_checkpoint {path}: not a checkpoint-N folder")
    return path, int(match.group(1))


def check_ema_matches(checkpoint: Path, use_ema: bool) -> None:
    """A checkpoint holds EMA weights exactly when its run used ``--use_ema``; resuming must match."""
    saved_ema = (checkpoint / "custom_checkpoint_0.pkl").exists()
    if saved_ema != use_ema:
        flag = "with" if saved_ema else "without"
        raise TrainingArgumentError(f"{checkpoint} was saved {flag} --use_ema: resume {flag} it")


def make_collate(family: TrainingFamily, args: argparse.Namespace) -> Callable[[list[dict]], dict[str, torch.Tensor]]:
    def collate(examples: list[dict]) -> dict[str, torch.Tensor]:
        crops = [
            random_resized_crop(example["image"], args.resolution, (args.crop_min_scale, 1.0)) for example in examples
        ]
        return family.make_inputs(torch.stack(crops), args)

    return collate


def train(args: argparse.Namespace) -> Path:
    """Run (or resume) a training run; returns the output folder holding the final model."""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    validate_args(args)
    output_dir = Path(args.output_dir)
    family, model, processor = load_family_and_model(args)
    try:
        dataset = load_image_dataset(
            args.train_data_dir, args.dataset_name, args.dataset_config_name, args.split, args.image_column
        )
    except DataError as error:
        raise TrainingArgumentError(str(error)) from None

    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        project_config=ProjectConfiguration(project_dir=str(output_dir)),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    set_seed(args.seed)
    output_dir.mkdir(parents=True, exist_ok=True)

    dataloader = torch.utils.data.DataLoader(
        dataset,
        batch_size=args.train_batch_size,
        shuffle=True,
        drop_last=len(dataset) >= args.train_batch_size,
        collate_fn=make_collate(family, args),
        num_workers=args.dataloader_num_workers,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(
        optimizer,
        num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=args.max_train_steps * accelerator.num_processes,
    )
    model, optimizer, dataloader, scheduler = accelerator.prepare(model, optimizer, dataloader, scheduler)
    ema = None
    if args.use_ema:
        from diffusers.training_utils import EMAModel

        ema = EMAModel(accelerator.unwrap_model(model).parameters(), decay=args.ema_decay)
        accelerator.register_for_checkpointing(ema)

    checkpoint, global_step = resolve_resume(args, output_dir)
    if checkpoint is not None:
        check_ema_matches(checkpoint, args.use_ema)
        accelerator.print(f"resuming from {checkpoint}")
        accelerator.load_state(str(checkpoint))
    batches_per_epoch = len(dataloader)
    first_epoch, batches_done = divmod(global_step * args.gradient_accumulation_steps, batches_per_epoch)

    progress = tqdm(
        total=args.max_train_steps, initial=global_step, desc="steps", disable=not accelerator.is_local_main_process
    )
    model.train()
    epoch = first_epoch
    while global_step < args.max_train_steps:
        dataloader.set_epoch(epoch)
        batches = accelerator.skip_first_batches(dataloader, batches_done) if batches_done else dataloader
        batches_done = 0
        for batch in batches:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            if not accelerator.sync_gradients:
                continue
            if ema is not None:
                ema.step(accelerator.unwrap_model(model).parameters())
            global_step += 1
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            if global_step % args.checkpointing_steps == 0 or global_step == args.max_train_steps:
                save_checkpoint(accelerator, output_dir, global_step, args.checkpoints_total_limit)
            if global_step >= args.max_train_steps:
                break
        epoch += 1
    progress.close()

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final_model = accelerator.unwrap_model(model)
        if ema is not None:
            ema.store(final_model.parameters())
            ema.copy_to(final_model.parameters())
        final_model.save_pretrained(output_dir)
        processor.save_pretrained(output_dir)
        if ema is not None:
            ema.restore(final_model.parameters())
    accelerator.end_training()
    return output_dir


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: one clear line and exit code 2 for bad arguments."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        train(args)
    except TrainingArgumentError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    return 0
