"""The trainer behind ``examples/train.py``: accelerate, checkpoints that survive a kill, exact resume, EMA,
TensorBoard logs with validation grids, a model card and ``--push_to_hub``.

A family plugs in through :class:`TrainingFamily` (its classes, how to build inputs from RGB crops, how to
colorize validation images); an adversarial family adds an :class:`Adversary`. Every function takes plain
arguments so that tests can drive a run end to end.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..evaluation import (
    HINT_COUNTS,
    colorize_automatic,
    colorize_by_sampling,
    colorize_with_hints,
    colorize_with_reference,
    upgrade_own_colors,
)
from ..models import (
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
from ..models.axial_exemplar import AxialExemplarDiscriminator
from ..models.axial_exemplar.modeling_axial_exemplar import pyramid, pyramid_lab
from ..models.cartoon_coltran import CartoonColtranDiscriminator
from .data import (
    DataError,
    automatic_model_inputs,
    cartoon_colorizer_inputs,
    cartoon_upgrader_inputs,
    exemplar_model_inputs,
    hint_model_inputs,
    load_image_dataset,
    random_resized_crop,
)
from .pairs import (
    DEFAULT_PROPORTIONS,
    Describe,
    ReferenceSampler,
    describe_images,
    jitter_colours,
    load_or_build_pair_index,
    nearest_neighbours,
    weights_fingerprint,
)
from .validation import Colorizer

logger = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")


class TrainingArgumentError(ValueError):
    """A bad command-line argument, found before any work starts."""


def lightness_and_ab(batch: dict[str, torch.Tensor], outputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and generated images for a discriminator: normalised (L, a, b), L from the input's first channel."""
    lightness = batch["pixel_values"][:, :1]
    return torch.cat([lightness, batch["labels"]], dim=1), torch.cat([lightness, outputs.ab], dim=1)


Images = torch.Tensor | tuple[torch.Tensor, ...]
"""What a discriminator judges: one batch of images, or one per scale for a multi-scale discriminator."""


@dataclass(frozen=True)
class Adversary:
    """How an adversarial family trains a discriminator next to its model.

    ``build`` makes the discriminator from the model's config; ``images`` picks the real and the generated
    images out of a batch and the model's outputs (one tensor each, or one tuple of tensors per scale, which the
    discriminator takes whole and answers with one tuple of logits); ``weight`` scales the generator's
    adversarial loss, added to the model's own loss (a number, or a function of the model's config); ``loss`` is
    ``"hinge"``, ``"lsgan"`` (least squares, Mao et al. 2017) or ``"vanilla"`` (the log loss of the original GAN).
    """

    build: Callable[[object], torch.nn.Module]
    images: Callable[[dict[str, torch.Tensor], object], tuple[Images, Images]] = lightness_and_ab
    weight: float | Callable[[object], float] = 0.01
    loss: str = "hinge"

    def generator_weight(self, config) -> float:
        return self.weight(config) if callable(self.weight) else self.weight


@dataclass(frozen=True)
class TrainingFamily:
    """What the trainer needs of a model family.

    Its classes; ``make_inputs`` builds a batch (model inputs and ``labels``) from RGB crops (and, for an
    exemplar family, the reference crops, else ``None``) and the model's config; ``colorize`` runs the model on
    protocol images with ``k`` hints for validation; ``hint_counts`` are the ``k`` the evaluation table reports
    ((0,) for automatic families); ``adversary`` is set for GAN families; ``describe_references`` is set for
    exemplar families: it gives the model's image descriptor, which pairs each training image with its nearest
    neighbour (:mod:`hf_colorize.training.pairs`); ``validation_setting`` says in the card what validation gives
    the model, where the hint count does not. A family trained in stages (``--stage``) lists them in ``stages``,
    each a family of its own.
    """

    config_class: type
    model_class: type
    processor_class: type
    make_inputs: Callable[[torch.Tensor, argparse.Namespace, torch.Tensor | None, object], dict[str, torch.Tensor]]
    colorize: Colorizer
    hint_counts: tuple[int, ...] = (0,)
    adversary: Adversary | None = None
    describe_references: Callable[[torch.nn.Module], Describe] | None = None
    validation_setting: str | None = None
    stages: dict[str, TrainingFamily] | None = None


def cartoon_stage(make_inputs, colorize: Colorizer, validation_setting: str, adversary=None) -> TrainingFamily:
    return TrainingFamily(
        CartoonColtranConfig,
        CartoonColtranForColorization,
        CartoonColtranImageProcessor,
        make_inputs=lambda rgb, args, references, config: make_inputs(rgb, config),
        colorize=colorize,
        adversary=adversary,
        validation_setting=validation_setting,
    )


CARTOON_STAGES = {
    "colorizer": cartoon_stage(
        cartoon_colorizer_inputs,
        colorize_by_sampling,
        "one sample (seed 0) from the lightness alone, upgraded by stage 2 as it stands",
    ),
    "upgrader": cartoon_stage(
        cartoon_upgrader_inputs,
        upgrade_own_colors,
        "each image's own 3-bit colours, upgraded (paper 003, Table I)",
        adversary=Adversary(
            build=CartoonColtranDiscriminator,
            images=lambda batch, outputs: (
                torch.cat([batch["pixel_values"], outputs.upsampled_ab, batch["labels"]], dim=1),
                torch.cat([batch["pixel_values"], outputs.upsampled_ab, outputs.ab], dim=1),
            ),
            weight=lambda config: config.adversarial_loss_weight,
            loss="vanilla",
        ),
    ),
}
"""The cartoon family's two stages (``--stage``): the colour transformer, then the upgrading network with its
discriminator (Eq. 10)."""


TRAINING_FAMILIES: dict[str, TrainingFamily] = {
    "dlsa": TrainingFamily(
        DlsaConfig,
        DlsaForColorization,
        DlsaImageProcessor,
        make_inputs=lambda rgb, args, references, config: hint_model_inputs(rgb, args.max_hints),
        colorize=colorize_with_hints,
        hint_counts=HINT_COUNTS,
    ),
    "smsanet": TrainingFamily(
        SmsanetConfig,
        SmsanetForColorization,
        SmsanetImageProcessor,
        make_inputs=lambda rgb, args, references, config: automatic_model_inputs(rgb),
        colorize=colorize_automatic,
        hint_counts=(0,),
    ),
    "axial_exemplar": TrainingFamily(
        AxialExemplarConfig,
        AxialExemplarForColorization,
        AxialExemplarImageProcessor,
        make_inputs=lambda rgb, args, references, config: exemplar_model_inputs(rgb, references),
        colorize=colorize_with_reference,
        adversary=Adversary(
            build=AxialExemplarDiscriminator,
            images=lambda batch, outputs: (
                pyramid_lab(batch["pixel_values"], pyramid(batch["labels"], len(outputs.pyramid_ab))),
                pyramid_lab(batch["pixel_values"], outputs.pyramid_ab),
            ),
            weight=lambda config: config.adversarial_loss_weight,
            loss="lsgan",
        ),
        describe_references=lambda model: model.describe,
        validation_setting="each image's own colour picture as the reference",
    ),
    "cartoon_coltran": replace(CARTOON_STAGES["colorizer"], stages=CARTOON_STAGES),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train or fine-tune an hf_colorize model.")
    model = parser.add_argument_group("model")
    model.add_argument("--model_type", choices=sorted(TRAINING_FAMILIES), help="family to train")
    model.add_argument("--config", help="folder or config.json of the variant to train from scratch")
    model.add_argument("--pretrained_model_name_or_path", help="saved model to fine-tune")
    model.add_argument(
        "--stage",
        choices=sorted({stage for family in TRAINING_FAMILIES.values() for stage in family.stages or {}}),
        help="for a family trained in stages (cartoon_coltran): colorizer (the colour transformer), then upgrader "
        "(from the colorizer's output folder with --pretrained_model_name_or_path)",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--train_data_dir", nargs="+", help="image folder(s), loaded as imagefolder datasets")
    data.add_argument("--dataset_name", help="Hub dataset to train on instead of a folder")
    data.add_argument("--dataset_config_name")
    data.add_argument("--split", default="train")
    data.add_argument("--image_column", default="image")
    data.add_argument("--resolution", type=int, default=224, help="side of the square training crops")
    data.add_argument("--crop_min_scale", type=float, default=0.25, help="smallest crop area fraction")
    data.add_argument("--max_hints", type=int, default=128, help="hint families: hints per image ~ U(0, max)")
    data.add_argument(
        "--reference_proportions",
        type=float,
        nargs=3,
        default=list(DEFAULT_PROPORTIONS),
        metavar=("SELF", "NEAREST", "RANDOM"),
        help="exemplar families: how often a target's reference is its own re-cropped, colour-jittered picture, "
        "its nearest neighbour by backbone features, or a random image (paper 002's alpha: 0.6 0.3 0.1)",
    )
    data.add_argument("--dataloader_num_workers", type=int, default=0)
    data.add_argument("--validation_images", nargs="+", help="image files or folders shown and scored during training")
    data.add_argument("--validation_steps", type=int, default=500, help="log a validation grid every N steps")
    data.add_argument("--validation_hints", type=int, default=10, help="hint families: hints in the validation grid")
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
    logs = parser.add_argument_group("logging and publishing")
    logs.add_argument("--report_to", choices=["tensorboard", "none"], default="tensorboard")
    logs.add_argument("--logging_dir", help="TensorBoard folder (default: OUTPUT_DIR/logs)")
    logs.add_argument("--logging_steps", type=int, default=10, help="log loss and learning rate every N steps")
    logs.add_argument("--push_to_hub", action="store_true", help="upload the final model, processor and card")
    logs.add_argument("--hub_model_id", help="ORG/NAME of the Hub repository to push to")
    logs.add_argument("--hub_token", help="Hub token (default: the logged-in user's)")
    logs.add_argument("--hub_private_repo", action="store_true")
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
    if args.push_to_hub and not args.hub_model_id:
        raise TrainingArgumentError("--push_to_hub needs --hub_model_id ORG/NAME")
    if args.hub_model_id and args.hub_model_id.count("/") != 1:
        raise TrainingArgumentError(f"--hub_model_id {args.hub_model_id}: expected ORG/NAME")
    counts = ("train_batch_size", "gradient_accumulation_steps", "max_train_steps", "checkpointing_steps")
    for name in (*counts, "validation_steps", "logging_steps"):
        if getattr(args, name) < 1:
            raise TrainingArgumentError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.resume_from_checkpoint not in (None, "latest") and not Path(args.resume_from_checkpoint).is_dir():
        raise TrainingArgumentError(f"--resume_from_checkpoint {args.resume_from_checkpoint}: not found")


def training_stage(family: TrainingFamily, model_type: str, stage: str | None) -> TrainingFamily:
    """The family itself, or for a family trained in stages the one ``--stage`` names."""
    if not family.stages:
        if stage is not None:
            raise TrainingArgumentError(f"--stage {stage}: the {model_type} family trains in one stage")
        return family
    if stage not in family.stages:
        choices = " or ".join(family.stages)
        raise TrainingArgumentError(f"the {model_type} family trains in stages: give --stage {choices}")
    return family.stages[stage]


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
    family = training_stage(TRAINING_FAMILIES[config.model_type], config.model_type, args.stage)
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


def collate_examples(examples: list[dict]) -> list[dict]:
    """Batches stay lists of examples (decoded image, dataset index): the random crops, hints and references are
    drawn in the training loop."""
    return examples


def reference_crops(sampler: ReferenceSampler, examples: list[dict], args: argparse.Namespace) -> torch.Tensor:
    """One reference crop per target: drawn by ``sampler``, randomly cropped; the target's own picture is also
    colour-jittered."""
    crops = []
    for example in examples:
        kind, image = sampler.draw(example["index"])
        crop = random_resized_crop(image, args.resolution, (args.crop_min_scale, 1.0))
        crops.append(jitter_colours(crop) if kind == "self" else crop)
    return torch.stack(crops)


PAIR_INDEX = "pair_index.json"
"""In the output folder: each training image's nearest neighbour, cached for resumed runs."""


def reference_sampler(
    family: TrainingFamily, model: torch.nn.Module, dataset, args: argparse.Namespace
) -> ReferenceSampler:
    """Pairs each training image with its nearest neighbour under the model's descriptor (computed once, cached in
    ``OUTPUT_DIR/pair_index.json``) and draws references with ``--reference_proportions``."""
    describe = family.describe_references(model)
    key = {"dataset": dataset._fingerprint, "model": weights_fingerprint(model), "resolution": args.resolution}

    def build() -> list[int]:
        logger.info("pairing %d training images with their nearest neighbours", len(dataset))
        return nearest_neighbours(describe_images(dataset, describe, args.resolution))

    nearest = load_or_build_pair_index(Path(args.output_dir) / PAIR_INDEX, key, build)
    try:
        return ReferenceSampler(dataset, nearest, args.reference_proportions)
    except ValueError as error:
        raise TrainingArgumentError(f"--reference_proportions: {error}") from None


def make_batch(
    family: TrainingFamily,
    examples: list[dict],
    args: argparse.Namespace,
    config,
    device,
    sampler: ReferenceSampler | None = None,
) -> dict[str, torch.Tensor]:
    """Random crops (and references) and the family's inputs, drawn from torch's global generator in the loop.

    Not in the data loader: ``accelerate`` fetches one batch ahead, so randomness drawn there would run ahead of
    the random state a checkpoint saves, and a resumed run would draw other crops than an uninterrupted one.
    """
    scale = (args.crop_min_scale, 1.0)
    crops = torch.stack([random_resized_crop(example["image"], args.resolution, scale) for example in examples])
    references = reference_crops(sampler, examples, args) if sampler is not None else None
    return {name: value.to(device) for name, value in family.make_inputs(crops, args, references, config).items()}


def judge(discriminator: torch.nn.Module, images: Images) -> tuple[torch.Tensor, ...]:
    """The discriminator's logits as a tuple (one entry per scale)."""
    logits = discriminator(images)
    return tuple(logits) if isinstance(logits, (tuple, list)) else (logits,)


def detach(images: Images) -> Images:
    return tuple(image.detach() for image in images) if isinstance(images, tuple) else images.detach()


GAN_LOSSES = {
    # kind: (generator loss on fake logits, discriminator loss on real logits, on fake logits)
    "hinge": (lambda fake: -fake.mean(), lambda real: F.relu(1 - real).mean(), lambda fake: F.relu(1 + fake).mean()),
    "lsgan": (
        lambda fake: (fake - 1).pow(2).mean(),
        lambda real: (real - 1).pow(2).mean(),
        lambda fake: fake.pow(2).mean(),
    ),
    "vanilla": (
        lambda fake: F.softplus(-fake).mean(),
        lambda real: F.softplus(-real).mean(),
        lambda fake: F.softplus(fake).mean(),
    ),
}
"""Hinge loss; least squares with real = 1, fake = 0 (Mao et al. 2017); and the log loss of Goodfellow et al.
2014 (-log D(real) - log(1 - D(fake)), the generator's non-saturating -log D(fake)); summed over scales."""


def adversarial_losses(
    discriminator: torch.nn.Module, real: Images, fake: Images, kind: str = "hinge"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The generator's loss (its gradients reach ``fake`` only, not the discriminator's weights) and the
    discriminator's (on ``fake`` detached)."""
    generator_term, real_term, fake_term = GAN_LOSSES[kind]
    discriminator.requires_grad_(False)
    generator_loss = sum(generator_term(logits) for logits in judge(discriminator, fake))
    discriminator.requires_grad_(True)
    discriminator_loss = sum(real_term(logits) for logits in judge(discriminator, real)) + sum(
        fake_term(logits) for logits in judge(discriminator, detach(fake))
    )
    return generator_loss, discriminator_loss


def log_validation(accelerator, model, family: TrainingFamily, images, args, step: int) -> None:
    """Log the mean validation PSNR and save the validation grid as ``output_dir/validation/step-N.png`` (and to
    TensorBoard)."""
    from tqdm.auto import tqdm

    from .validation import validate

    count = args.validation_hints if max(family.hint_counts) > 0 else 0
    grid, mean_psnr = validate(accelerator.unwrap_model(model), family.colorize, images, count)
    tqdm.write(f"step {step}: validation PSNR {mean_psnr:.2f} dB on {len(images)} images ({count} hints)")
    accelerator.log({"validation_psnr": mean_psnr}, step=step)
    folder = Path(args.output_dir) / "validation"
    folder.mkdir(exist_ok=True)
    grid.save(folder / f"step-{step}.png")
    if args.report_to == "tensorboard":
        pixels = torch.from_numpy(np.array(grid)).permute(2, 0, 1)
        accelerator.get_tracker("tensorboard").writer.add_image("validation", pixels, step)


SECRET_ARGUMENTS = {"hub_token"}
"""Arguments never written to logs or model cards."""


def public_arguments(args: argparse.Namespace) -> dict:
    """The run's arguments that may be published: all but :data:`SECRET_ARGUMENTS`."""
    return {key: value for key, value in vars(args).items() if key not in SECRET_ARGUMENTS}


def training_summary(args: argparse.Namespace, steps: int) -> str:
    data = ", ".join(args.train_data_dir) if args.train_data_dir else f"the Hub dataset `{args.dataset_name}`"
    ema = f", EMA of the weights (decay {args.ema_decay}) saved" if args.use_ema else ""
    return (
        f"{steps} steps of AdamW (peak learning rate {args.learning_rate}, {args.lr_warmup_steps} warm-up steps, "
        f"cosine decay) on {data}: random resized crops of {args.resolution}x{args.resolution} with flips, "
        f"batch {args.train_batch_size} x {args.gradient_accumulation_steps} accumulation{ema}."
    )


def validation_setting(family: TrainingFamily) -> str:
    """What the model is given for validation, in the words of the card."""
    if family.validation_setting:
        return family.validation_setting
    return "k hints of the true colour" if max(family.hint_counts) > 0 else "from the lightness alone"


def write_model_card(model, family: TrainingFamily, args: argparse.Namespace, validation_images, steps: int) -> None:
    """``output_dir/README.md``: metadata, training arguments, and PSNR on the validation images if given."""
    import json

    from ..profiling import count_macs, count_parameters
    from .card import TRAINING_CARD_TEMPLATE, render_model_card
    from .validation import psnr_markdown, psnr_table

    output_dir = Path(args.output_dir)
    if validation_images:
        scores = psnr_table(model, family.colorize, validation_images, family.hint_counts)
        (output_dir / "eval_results.json").write_text(json.dumps(scores, indent=2) + "\n")
        evaluation = (
            f"PSNR (dB) on the {len(validation_images)} `--validation_images` (centre crops, "
            f"{validation_setting(family)}, `hf_colorize.evaluation.protocol`):\n\n{psnr_markdown(scores)}"
        )
    else:
        (output_dir / "eval_results.json").unlink(missing_ok=True)  # a previous run's, not this model's
        evaluation = "Not evaluated: the run had no `--validation_images`."
    shape = (1, 3, args.resolution, args.resolution)
    references = torch.rand(shape) if family.describe_references else None
    example = family.make_inputs(torch.rand(shape), args, references, model.config)
    example = {name: value.to(model.device) for name, value in example.items() if name != "labels"}
    arguments = "\n".join(f"{key}: {value}" for key, value in sorted(public_arguments(args).items()))
    card = render_model_card(
        TRAINING_CARD_TEMPLATE,
        model.config.model_type,
        repo_id=args.hub_model_id or output_dir.name,
        gmacs=count_macs(model.eval(), **example) / 1e9,
        parameters=count_parameters(model),
        training_summary=training_summary(args, steps),
        evaluation_table=evaluation,
        datasets=[args.dataset_name] if args.dataset_name else None,
        training_arguments=arguments,
    )
    card.save(output_dir / "README.md")


def train(args: argparse.Namespace) -> Path:
    """Run (or resume) a training run; returns the output folder holding the final model."""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    from .validation import load_validation_images

    validate_args(args)
    output_dir = Path(args.output_dir)
    set_seed(args.seed)  # before the model is built: --seed decides its initial weights too
    family, model, processor = load_family_and_model(args)
    try:
        dataset = load_image_dataset(
            args.train_data_dir, args.dataset_name, args.dataset_config_name, args.split, args.image_column
        )
        validation_images = (
            load_validation_images(args.validation_images, args.resolution) if args.validation_images else []
        )
    except DataError as error:
        raise TrainingArgumentError(str(error)) from None

    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(
            project_dir=str(output_dir), logging_dir=args.logging_dir or str(output_dir / "logs")
        ),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    set_seed(args.seed)  # again: the data's random stream does not depend on what building the model drew
    output_dir.mkdir(parents=True, exist_ok=True)
    dataset = dataset.add_column("index", list(range(len(dataset))))
    sampler = reference_sampler(family, model, dataset, args) if family.describe_references else None
    if accelerator.is_main_process:  # half-written checkpoints of a killed run
        for leftover in output_dir.glob(".tmp-checkpoint-*"):
            shutil.rmtree(leftover, ignore_errors=True)
    if args.report_to != "none":
        hyperparameters = {
            key: value for key, value in public_arguments(args).items() if isinstance(value, (int, float, str, bool))
        }
        accelerator.init_trackers("hf_colorize", config=hyperparameters)

    dataloader = torch.utils.data.DataLoader(
        dataset,
        batch_size=args.train_batch_size,
        shuffle=True,
        drop_last=len(dataset) >= args.train_batch_size,
        collate_fn=collate_examples,
        # Its own generator: making an iterator (as a resumed run does mid-epoch) must not draw from the global one.
        generator=torch.Generator().manual_seed(args.seed),
        num_workers=args.dataloader_num_workers,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(
        optimizer,
        num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=args.max_train_steps * accelerator.num_processes,
    )
    model_config = model.config
    model, optimizer, dataloader, scheduler = accelerator.prepare(model, optimizer, dataloader, scheduler)
    discriminator = discriminator_optimizer = None
    if family.adversary is not None:
        discriminator = family.adversary.build(model_config)
        discriminator_optimizer = torch.optim.AdamW(
            discriminator.parameters(), lr=args.learning_rate, betas=(0.5, 0.999)
        )
        discriminator, discriminator_optimizer = accelerator.prepare(discriminator, discriminator_optimizer)
        adversary_weight = family.adversary.generator_weight(model_config)
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
        for examples in batches:
            batch = make_batch(family, examples, args, model_config, accelerator.device, sampler)
            trained = [model] if discriminator is None else [model, discriminator]
            with accelerator.accumulate(*trained):
                outputs = model(**batch)
                loss = outputs.loss
                logs = {"loss": loss.detach()}
                if discriminator is not None:
                    real, fake = family.adversary.images(batch, outputs)
                    generator_loss, discriminator_loss = adversarial_losses(
                        discriminator, real, fake, family.adversary.loss
                    )
                    loss = loss + adversary_weight * generator_loss
                    logs.update(generator_loss=generator_loss.detach(), discriminator_loss=discriminator_loss.detach())
                accelerator.backward(loss)
                if discriminator is not None:
                    # After the generator's backward: that graph holds the discriminator weights this step changes.
                    accelerator.backward(discriminator_loss)
                    discriminator_optimizer.step()
                    discriminator_optimizer.zero_grad(set_to_none=True)
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
            learning_rate = scheduler.get_last_lr()[0]
            progress.set_postfix(loss=f"{logs['loss'].item():.4f}", lr=f"{learning_rate:.2e}")
            if global_step % args.logging_steps == 0:
                accelerator.log(
                    {name: value.item() for name, value in logs.items()} | {"lr": learning_rate}, step=global_step
                )
            if validation_images and global_step % args.validation_steps == 0 and accelerator.is_main_process:
                log_validation(accelerator, model, family, validation_images, args, global_step)
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
        write_model_card(final_model, family, args, validation_images, global_step)
        if ema is not None:
            ema.restore(final_model.parameters())
        if args.push_to_hub:
            from .hub import push_to_hub

            url = push_to_hub(output_dir, args.hub_model_id, token=args.hub_token, private=args.hub_private_repo)
            accelerator.print(f"pushed to {url}")
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
