import dataclasses
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_axial_exemplar_config, tiny_cartoon_config, tiny_config, tiny_smsanet_config
from huggingface_hub import ModelCard
from huggingface_hub.utils import filter_repo_objects
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForImageToImage, pipeline

from hf_colorize import CartoonColtranForColorization, DlsaForColorization
from hf_colorize.evaluation import grey_prediction, psnr
from hf_colorize.models import REGISTERED_FAMILIES
from hf_colorize.models.dlsa import training_dlsa
from hf_colorize.training import Adversary, TrainingArgumentError, build_parser, main, train, training_family
from hf_colorize.training.export import export_half_precision, load_checkpoint_into
from hf_colorize.training.pairs import PAIR_INDEX
from hf_colorize.training.trainer import adversarial_losses, checkpoint_steps
from hf_colorize.training.validation import GRID_ROWS, load_validation_images, psnr_table, validate

ROOT = Path(__file__).resolve().parent.parent


def arguments(image_folder, config_dir, output_dir, *extra):
    return build_parser().parse_args(
        [
            "--config", str(config_dir),
            "--train_data_dir", str(image_folder),
            "--output_dir", str(output_dir),
            "--resolution", "64",
            "--train_batch_size", "2",
            "--checkpointing_steps", "2",
            "--max_hints", "5",
            *extra,
        ]
    )  # fmt: skip


def test_train_checkpoint_resume_and_load(image_folder, config_dir, tmp_path, color_image):
    output_dir = tmp_path / "run"
    train(arguments(image_folder, config_dir, output_dir, "--max_train_steps", "2", "--use_ema"))
    assert checkpoint_steps(output_dir) == [2]
    resume = ["--max_train_steps", "4", "--resume_from_checkpoint", "latest"]
    with pytest.raises(TrainingArgumentError, match="saved with --use_ema"):
        train(arguments(image_folder, config_dir, output_dir, *resume))
    train(arguments(image_folder, config_dir, output_dir, *resume, "--use_ema"))
    assert checkpoint_steps(output_dir) == [2, 4]
    assert not list(output_dir.glob(".tmp-*"))
    pipe = pipeline("image-colorization", model=str(output_dir))
    assert pipe(color_image, hints=[(3, 3, "#ff0000")]).size == color_image.size

    # The last checkpoint's EMA weights are the saved model, in the checkpoint as a model folder of its own.
    model = load_checkpoint_into(DlsaForColorization(tiny_config()), output_dir / "checkpoint-4")
    ema_folder = AutoModelForImageToImage.from_pretrained(output_dir / "checkpoint-4" / "model_ema")
    for name, value in model.state_dict().items():
        assert torch.equal(value, pipe.model.state_dict()[name]), name
        assert torch.equal(value, ema_folder.state_dict()[name]), name
    raw = pipeline("image-colorization", model=str(output_dir / "checkpoint-4" / "model"))
    assert raw(color_image).size == color_image.size
    assert any(not torch.equal(value, model.state_dict()[name]) for name, value in raw.model.state_dict().items())

    # Exported in fp16, it loads back as fp32; the exported model itself is left as it was.
    before = {name: value.clone() for name, value in model.state_dict().items()}
    export_half_precision(model, pipe.image_processor, tmp_path / "half")
    assert all(torch.equal(value, before[name]) for name, value in model.state_dict().items())
    assert model.dtype == torch.float32
    half = AutoModelForImageToImage.from_pretrained(tmp_path / "half")
    assert half.dtype == torch.float32
    assert (tmp_path / "half" / "model.safetensors").stat().st_size < (output_dir / "model.safetensors").stat().st_size
    pixel_values = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        assert torch.allclose(half.eval()(pixel_values).ab, model.eval()(pixel_values).ab, atol=1e-2)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--train_data_dir", "/no/such/folder"], "folder not found"),
        (["--resolution", "70"], "not a multiple of the dlsa model's stride 32"),
        (["--max_train_steps", "0"], "--max_train_steps must be at least 1"),
        (["--contrast_hints", "1.5"], "--contrast_hints is a share of the images, from 0 to 1; got 1.5"),
        (["--faded_images", "-0.1"], "--faded_images is a share of the images, from 0 to 1; got -0.1"),
    ],
)
def test_bad_arguments_stop_before_work(image_folder, config_dir, tmp_path, extra, message):
    with pytest.raises(TrainingArgumentError, match=message):
        train(arguments(image_folder, config_dir, tmp_path / "run", *extra))
    assert not (tmp_path / "run").exists()


def test_empty_folder_and_unknown_model_type_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as stop:
        main(["--model_type", "dlsa", "--train_data_dir", str(tmp_path / "empty"), "--output_dir", str(tmp_path / "o")])
    assert stop.value.code == 2 and "no images in this folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--model_type", "nope", "--train_data_dir", str(tmp_path), "--output_dir", str(tmp_path / "o")])
    assert stop.value.code == 2


@pytest.mark.parametrize("variant", sorted(path.name for path in (ROOT / "hub_configs").iterdir()))
def test_card_templates_render(variant):
    from hf_colorize.training.card import render_model_card

    template = Path(__file__).parent.parent / "hub_configs" / variant / "card_template.md"
    model_type = json.loads((template.parent / "config.json").read_text())["model_type"]
    card = render_model_card(template, model_type, f"org/{variant}", 1.0, 3_270_000, "Trained on X.", "| k | 10 |")
    assert card.data.pipeline_tag == "image-to-image"
    assert {"image-colorization", "hf-colorize"} <= set(card.data.tags)
    assert "org/" + variant in card.text and "3.27M" in card.text and "| k | 10 |" in card.text
    assert "{{" not in card.text


def read_weights(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def assert_same_weights(first, second):
    first, second = read_weights(first), read_weights(second)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


@pytest.fixture(scope="module")
def reference_run(image_folder, config_dir, tmp_path_factory):
    """An uninterrupted 4-step run with EMA, validation every 2 steps and TensorBoard logs."""
    output_dir = tmp_path_factory.mktemp("reference")
    extra = ["--max_train_steps", "4", "--use_ema", "--validation_images", str(image_folder), "--validation_steps", "2"]
    train(arguments(image_folder, config_dir, output_dir, *extra, "--logging_steps", "1"))
    return output_dir


def test_resume_continues_exactly(reference_run, image_folder, config_dir, tmp_path):
    # N steps, then a new process resumes N more: the same weights, EMA and model as 2N uninterrupted steps.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(reference_run / "checkpoint-2", resumed / "checkpoint-2")
    extra = ["--max_train_steps", "4", "--use_ema", "--resume_from_checkpoint", "latest", "--report_to", "none"]
    train(arguments(image_folder, config_dir, resumed, *extra))
    assert_same_weights(
        reference_run / "checkpoint-4" / "model/model.safetensors", resumed / "checkpoint-4/model/model.safetensors"
    )
    assert_same_weights(reference_run / "model.safetensors", resumed / "model.safetensors")


def test_logs_validation_grid_and_card(reference_run, image_folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = [
        EventAccumulator(str(events)).Reload() for events in (reference_run / "logs").rglob("events.out.tfevents.*")
    ]
    (run,) = [run for run in runs if "validation_psnr" in run.Tags()["scalars"]]
    assert [event.step for event in run.Scalars("validation_psnr")] == [2, 4]
    grid = Image.open(reference_run / "validation" / "step-4.png")
    assert grid.size == (3 * 64, len(list(image_folder.iterdir())) * 64)  # grey | colorized | truth per image
    card = ModelCard.load(reference_run / "README.md")
    assert card.data.pipeline_tag == "image-to-image"
    assert {"image-colorization", "hf-colorize", "dlsa"} <= set(card.data.tags)
    assert "max_train_steps: 4" in card.text and "| model |" in card.text and "k=10" in card.text
    scores = json.loads((reference_run / "eval_results.json").read_text())
    assert set(scores) == {"grey", "model"} and all(value > 0 for value in scores["model"].values())


def test_card_usage_loads_the_trained_folder(reference_run, image_folder):
    # The card's usage line names what loads: the run's folder (absolute), not its bare name.
    (model_id,) = re.findall(
        r'pipeline\("image-colorization", model="([^"]+)"\)', (reference_run / "README.md").read_text()
    )
    assert model_id == str(reference_run.resolve())
    image = pipeline("image-colorization", model=model_id)(str(next(image_folder.iterdir())))
    assert image.mode == "RGB"


def test_killed_run_resumes_from_last_complete_checkpoint(image_folder, config_dir, tmp_path):
    output_dir = tmp_path / "killed"
    command = [sys.executable, str(ROOT / "examples" / "train.py"), "--report_to", "none", "--checkpointing_steps", "1"]
    command += [
        "--config", str(config_dir), "--train_data_dir", str(image_folder), "--output_dir", str(output_dir),
        "--resolution", "64", "--train_batch_size", "2", "--max_hints", "5", "--max_train_steps", "50",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(output_dir.glob("*checkpoint-2")) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    steps = checkpoint_steps(output_dir)
    assert steps and max(steps) < 50
    for step in steps:  # whatever the moment of the kill, the checkpoint-N folders are complete
        assert {"model", "optimizer.bin", "scheduler.bin", "manifest.json"} <= {
            p.name for p in (output_dir / f"checkpoint-{step}").iterdir()
        }
    resume = ["--max_train_steps", str(max(steps) + 1), "--resume_from_checkpoint", "latest", "--report_to", "none"]
    train(arguments(image_folder, config_dir, output_dir, *resume))
    assert checkpoint_steps(output_dir)[-1] == max(steps) + 1
    assert not list(output_dir.glob(".tmp-*"))
    # The saved model is the resumed run's last step: the newest checkpoint's weights, one step on from the kill's.
    saved = load_file(output_dir / "model.safetensors")
    newest, killed = (
        load_file(output_dir / f"checkpoint-{step}" / "model" / "model.safetensors")
        for step in (max(steps) + 1, max(steps))
    )
    assert saved.keys() == newest.keys() == killed.keys()
    assert all(torch.equal(saved[name], newest[name]) for name in saved)
    assert not all(torch.equal(saved[name], killed[name]) for name in saved)


class StandInHfApi:
    """Records what the trainer asks of ``huggingface_hub.HfApi`` and keeps the uploaded files in a folder."""

    hub = None
    calls = []

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, repo_type=None, private=False, exist_ok=False):
        StandInHfApi.calls.append(("create_repo", repo_id, private))

    def upload_folder(self, repo_id, folder_path, repo_type=None, ignore_patterns=None, commit_message=None):
        StandInHfApi.calls.append(("upload_folder", repo_id))
        files = [p.relative_to(folder_path).as_posix() for p in Path(folder_path).rglob("*") if p.is_file()]
        for name in filter_repo_objects(files, ignore_patterns=ignore_patterns):
            target = StandInHfApi.hub / repo_id / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(folder_path) / name, target)
        return f"https://huggingface.co/{repo_id}/commit/0"


def test_push_to_hub_uploads_model_processor_and_card(image_folder, config_dir, tmp_path, monkeypatch, color_image):
    import huggingface_hub

    StandInHfApi.hub, StandInHfApi.calls = tmp_path / "hub", []
    monkeypatch.setattr(huggingface_hub, "HfApi", StandInHfApi)
    extra = ["--max_train_steps", "1", "--report_to", "none", "--push_to_hub", "--hub_model_id", "me/tiny-dlsa"]
    train(arguments(image_folder, config_dir, tmp_path / "run", *extra))
    assert StandInHfApi.calls == [("create_repo", "me/tiny-dlsa", False), ("upload_folder", "me/tiny-dlsa")]
    uploaded = StandInHfApi.hub / "me" / "tiny-dlsa"
    names = {p.relative_to(uploaded).as_posix() for p in uploaded.rglob("*") if p.is_file()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= names
    assert not any(name.startswith("checkpoint-") for name in names)
    assert 'model="me/tiny-dlsa"' in (uploaded / "README.md").read_text()  # the usage line loads the Hub id
    last = tmp_path / "run" / f"checkpoint-{checkpoint_steps(tmp_path / 'run')[-1]}"  # the trained weights
    trained, pushed = load_file(last / "model" / "model.safetensors"), load_file(uploaded / "model.safetensors")
    assert trained.keys() == pushed.keys() and all(torch.equal(trained[name], pushed[name]) for name in trained)
    image = pipeline("image-colorization", model=str(uploaded))(color_image, hints=[(3, 3, "#ff0000")])
    assert image.size == color_image.size and image.mode == "RGB"


def test_push_to_hub_needs_a_repository_id(image_folder, config_dir, tmp_path):
    with pytest.raises(TrainingArgumentError, match="--push_to_hub needs --hub_model_id"):
        train(arguments(image_folder, config_dir, tmp_path / "run", "--push_to_hub"))


def test_adversarial_family_trains_its_discriminator(image_folder, config_dir, tmp_path, monkeypatch):
    torch.manual_seed(0)
    discriminator = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 4, stride=4), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1))
    initial = {name: value.clone() for name, value in discriminator.state_dict().items()}
    family = dataclasses.replace(training_family("dlsa"), adversary=Adversary(build=lambda config: discriminator))
    monkeypatch.setattr(training_dlsa, "TRAINING_FAMILY", family)
    output_dir = tmp_path / "gan"
    train(arguments(image_folder, config_dir, output_dir, "--max_train_steps", "2", "--logging_steps", "1"))
    saved = read_weights(output_dir / "checkpoint-2" / "discriminator.safetensors")
    assert saved.keys() == initial.keys()
    assert any(not torch.equal(saved[name], initial[name]) for name in initial)


class RecordingScaler(torch.amp.GradScaler):
    """A CPU gradient scaler whose scale changes at every update and that records the scale each call sees."""

    def __init__(self):
        super().__init__("cpu", growth_interval=1)
        self.calls = []

    def scale(self, outputs):
        self.calls.append(("scale", self.get_scale()))
        return super().scale(outputs)

    def unscale_(self, optimizer):
        self.calls.append(("unscale", self.get_scale()))
        super().unscale_(optimizer)

    def update(self, new_scale=None):
        self.calls.append(("update", None))
        super().update(new_scale)


def test_fp16_adversarial_training_updates_the_shared_scale_once_per_step(
    image_folder, config_dir, tmp_path, monkeypatch, request
):
    from accelerate.state import AcceleratorState

    from hf_colorize.training import trainer

    AcceleratorState._reset_state(reset_partial_state=True)  # this process's earlier runs were fp32
    request.addfinalizer(lambda: AcceleratorState._reset_state(reset_partial_state=True))
    scaler = RecordingScaler()

    def fp16_on_the_cpu(args):  # accelerate autocasts and scales fp16 on GPUs only; torch does both on the CPU
        accelerator = make_accelerator(args)
        accelerator.native_amp, accelerator.scaler = True, scaler
        return accelerator

    make_accelerator = trainer.make_accelerator
    monkeypatch.setattr(trainer, "make_accelerator", fp16_on_the_cpu)
    torch.manual_seed(0)
    discriminator = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 4, stride=4), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1))
    family = dataclasses.replace(training_family("dlsa"), adversary=Adversary(build=lambda config: discriminator))
    monkeypatch.setattr(training_dlsa, "TRAINING_FAMILY", family)
    extra = ["--max_train_steps", "3", "--mixed_precision", "fp16", "--report_to", "none"]
    train(arguments(image_folder, config_dir, tmp_path / "fp16", *extra))

    assert [kind for kind, _ in scaler.calls].count("update") == 3  # once per step, not once per optimiser
    scaled_with = None
    for kind, scale in scaler.calls:  # both optimisers' gradients are unscaled with the scale of their losses
        if kind == "scale":
            scaled_with = scale
        elif kind == "unscale":
            assert scale == scaled_with
    saved = read_weights(tmp_path / "fp16" / "checkpoint-3" / "model" / "model.safetensors")
    assert all(torch.isfinite(value).all() for value in saved.values())


@pytest.mark.parametrize(
    "family, config",
    [("dlsa", tiny_config), ("smsanet", tiny_smsanet_config), ("axial_exemplar", tiny_axial_exemplar_config)],
)
def test_validation_runs_the_model_on_its_own_device(image_folder, family, config):
    # The meta device stands in for a GPU: the model must get its inputs there. A hook stands in for the copy of
    # the result back to the CPU (meta tensors hold no data): all-zero ab, the grey picture.
    model = REGISTERED_FAMILIES[family].colorization_model(config()).to("meta")
    devices = []

    def record_devices(module, args, kwargs):
        devices.extend(value.device.type for value in kwargs.values() if isinstance(value, torch.Tensor))

    model.register_forward_pre_hook(record_devices, with_kwargs=True)
    model.register_forward_hook(
        lambda module, args, kwargs, output: type(output)(ab=torch.zeros(output.ab.shape)), with_kwargs=True
    )
    images, _ = load_validation_images([str(image_folder)], 64)
    _, mean_psnr = validate(model, training_family(family).colorize, images, 2)
    assert devices and set(devices) == {"meta"}
    assert mean_psnr == pytest.approx(np.mean([psnr(grey_prediction(image), image.target_rgb) for image in images]))


def test_automatic_family_trains_with_the_example_script(image_folder, tmp_path, color_image):
    config_dir, output_dir = tmp_path / "config", tmp_path / "run"
    tiny_smsanet_config().save_pretrained(config_dir)
    main(
        [
            "--model_type", "smsanet", "--config", str(config_dir),
            "--train_data_dir", str(image_folder), "--output_dir", str(output_dir),
            "--resolution", "64", "--train_batch_size", "2", "--max_train_steps", "2", "--report_to", "none",
            "--validation_images", str(image_folder), "--validation_steps", "2",
        ]
    )  # fmt: skip
    assert checkpoint_steps(output_dir) == [2]
    pipe = pipeline("image-colorization", model=str(output_dir))
    assert pipe.model.config.model_type == "smsanet" and pipe(color_image).size == color_image.size
    assert Image.open(output_dir / "validation" / "step-2.png").size == (3 * 64, len(list(image_folder.iterdir())) * 64)
    assert set(json.loads((output_dir / "eval_results.json").read_text())["model"]) == {"0"}
    card = ModelCard.load(output_dir / "README.md")
    assert "smsanet" in card.data.tags and "Stacked multi-scale attention" in card.text


class MeanDiscriminator(torch.nn.Module):
    """Judges each scale by its mean over channels: logits that are easy to compute by hand."""

    def forward(self, images):
        return tuple(image.mean(dim=1, keepdim=True) for image in images)


def test_least_squares_and_multi_scale_adversarial_losses():
    real = (torch.full((1, 3, 4, 4), 1.0), torch.full((1, 3, 2, 2), 0.5))
    fake = (torch.full((1, 3, 4, 4), 0.25, requires_grad=True), torch.zeros(1, 3, 2, 2, requires_grad=True))
    generator_loss, discriminator_loss = adversarial_losses(MeanDiscriminator(), real, fake, "lsgan")
    assert torch.isclose(generator_loss, torch.tensor(0.75**2 + 1.0))  # (D(fake) - 1)^2, summed over scales
    assert torch.isclose(discriminator_loss, torch.tensor(0.5**2 + 0.25**2))  # (D(real) - 1)^2 + D(fake)^2
    generator_loss.backward()
    assert fake[0].grad is not None and fake[1].grad is not None


def exemplar_arguments(image_folder, config_dir, output_dir, *extra):
    return build_parser().parse_args(
        [
            "--config", str(config_dir), "--train_data_dir", str(image_folder), "--output_dir", str(output_dir),
            "--resolution", "64", "--train_batch_size", "2", "--checkpointing_steps", "2", "--report_to", "none",
            *extra,
        ]
    )  # fmt: skip


def test_exemplar_family_trains_with_reference_pairs_and_resumes_exactly(image_folder, tmp_path, color_image):
    config_dir, full, resumed = tmp_path / "config", tmp_path / "full", tmp_path / "resumed"
    tiny_axial_exemplar_config().save_pretrained(config_dir)
    train(exemplar_arguments(image_folder, config_dir, full, "--max_train_steps", "4"))
    nearest = json.loads((full / PAIR_INDEX).read_text())["nearest"]
    assert len(nearest) == 6 and all(neighbour != index for index, neighbour in enumerate(nearest))
    discriminator = read_weights(full / "checkpoint-4" / "discriminator.safetensors")
    assert any(name.startswith("scales.3.") for name in discriminator)  # one patch discriminator per level

    resumed.mkdir()
    shutil.copytree(full / "checkpoint-2", resumed / "checkpoint-2")
    train(
        exemplar_arguments(
            image_folder, config_dir, resumed, "--max_train_steps", "4", "--resume_from_checkpoint", "latest"
        )
    )
    for name in ("model/model.safetensors", "discriminator.safetensors"):
        assert_same_weights(full / "checkpoint-4" / name, resumed / "checkpoint-4" / name)

    pipe = pipeline("image-colorization", model=str(full))
    assert pipe(color_image, reference=color_image).size == color_image.size
    with pytest.raises(TrainingArgumentError, match="reference_proportions"):
        train(exemplar_arguments(image_folder, config_dir, tmp_path / "bad", "--reference_proportions", "0", "0", "0"))


def colorize_as_grey(model, images, count):
    """A colorizer for validation tests that returns each image's grey picture."""
    return [grey_prediction(image) for image in images]


def test_validation_scores_every_image_and_shows_at_most_grid_rows(image_folder):
    images = load_validation_images([str(image_folder)], 32)[0] * 6

    grid, mean_psnr = validate(torch.nn.Linear(1, 1), colorize_as_grey, images, 0)
    assert len(images) > GRID_ROWS and grid.size == (3 * 32, GRID_ROWS * 32)
    assert mean_psnr == pytest.approx(np.mean([psnr(grey_prediction(image), image.target_rgb) for image in images]))


def test_validation_means_skip_a_picture_that_grey_matches_exactly(image_folder, tmp_path):
    # A picture that is grey already is matched exactly by grey (infinite PSNR): the means are over the others,
    # as in the benchmarks, and the card and eval_results.json get numbers, not inf.
    grey_picture = tmp_path / "grey.png"
    Image.fromarray(np.full((72, 90, 3), 120, dtype=np.uint8)).save(grey_picture)
    colour = load_validation_images([str(image_folder)], 32)[0]
    images = colour + load_validation_images([str(grey_picture)], 32)[0]

    scores = psnr_table(torch.nn.Linear(1, 1), colorize_as_grey, images, [0])
    expected = np.mean([psnr(grey_prediction(image), image.target_rgb) for image in colour])
    assert scores["grey"]["0"] == pytest.approx(expected) and scores["model"]["0"] == pytest.approx(expected)
    assert validate(torch.nn.Linear(1, 1), colorize_as_grey, images, 0)[1] == pytest.approx(expected)


def test_cartoon_family_trains_stage_by_stage(image_folder, config_dir, tmp_path, color_image):
    dlsa_config_dir = config_dir
    config_dir, colorizer, upgrader = tmp_path / "config", tmp_path / "colorizer", tmp_path / "upgrader"
    tiny_cartoon_config().save_pretrained(config_dir)
    with pytest.raises(TrainingArgumentError, match="give --stage colorizer or upgrader"):
        train(exemplar_arguments(image_folder, config_dir, tmp_path / "no-stage", "--max_train_steps", "2"))
    common = ["--resolution", "32", "--max_train_steps", "2", "--validation_images", str(image_folder)]
    train(exemplar_arguments(image_folder, config_dir, colorizer, "--stage", "colorizer", *common))
    after_stage_1 = read_weights(colorizer / "model.safetensors")
    initial = CartoonColtranForColorization(tiny_cartoon_config()).state_dict()
    assert not torch.equal(after_stage_1["cartoon_coltran.head.weight"], initial["cartoon_coltran.head.weight"])
    assert "one sample (seed 0)" in (colorizer / "README.md").read_text()

    stage_2 = exemplar_arguments(image_folder, config_dir, upgrader, "--stage", "upgrader", *common)
    stage_2.config, stage_2.pretrained_model_name_or_path = None, str(colorizer)
    train(stage_2)
    after_stage_2 = read_weights(upgrader / "model.safetensors")
    discriminator = read_weights(upgrader / "checkpoint-2" / "discriminator.safetensors")
    assert any(name.endswith(".weight") for name in discriminator)  # the patch discriminator trained beside it
    for name, weight in after_stage_2.items():  # stage 2 leaves the colour transformer as stage 1 left it
        if name.startswith("cartoon_coltran."):
            assert torch.equal(weight, after_stage_1[name]), name
    upgrader_names = [name for name in after_stage_2 if name.startswith("upgrader.")]
    assert any(not torch.equal(after_stage_2[name], after_stage_1[name]) for name in upgrader_names)
    assert "own 3-bit colours" in (upgrader / "README.md").read_text()
    samples = pipeline("image-colorization", model=str(upgrader))(color_image, num_samples=2, seed=0)
    assert [sample.size for sample in samples] == [color_image.size] * 2

    with pytest.raises(TrainingArgumentError, match="--stage upgrader: the dlsa family trains in one stage"):
        train(arguments(image_folder, dlsa_config_dir, tmp_path / "dlsa", "--stage", "upgrader"))


def test_holdout_split_copies_every_nth_image(tmp_path):
    source = tmp_path / "images"
    source.mkdir()
    for index in range(10):
        Image.new("RGB", (4, 4), (index, 0, 0)).save(source / f"{index:02d}.png")
    (source / "notes.txt").write_text("not an image")
    script = [sys.executable, str(ROOT / "examples" / "holdout_split.py")]
    done = subprocess.run([*script, str(source), str(tmp_path / "split"), "--every", "4", "--offset", "1"], text=True)
    assert done.returncode == 0
    assert sorted(path.name for path in (tmp_path / "split" / "validation").iterdir()) == ["01.png", "05.png", "09.png"]
    assert len(list((tmp_path / "split" / "train").iterdir())) == 7
    bad = subprocess.run([*script, str(source), str(tmp_path / "bad"), "--every", "1"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--every must be at least 2, got 1" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_gradient_checkpointing_option_recomputes_the_blocks(image_folder, config_dir, tmp_path, checkpoint_replays):
    extra = ["--max_train_steps", "1", "--report_to", "none"]
    train(arguments(image_folder, config_dir, tmp_path / "plain", *extra))
    assert not checkpoint_replays
    train(arguments(image_folder, config_dir, tmp_path / "checkpointed", *extra, "--gradient_checkpointing"))
    assert len(checkpoint_replays) == 4  # the tiny dlsa's four blocks, one step
    plain = load_file(tmp_path / "plain" / "model.safetensors")
    checkpointed = load_file(tmp_path / "checkpointed" / "model.safetensors")
    for name, value in plain.items():  # the same step: checkpointing changes memory, not the result
        torch.testing.assert_close(checkpointed[name], value, rtol=1e-4, atol=1e-6, msg=name)
