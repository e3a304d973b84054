"""Training under ``accelerate launch`` with 2 processes: on this CPU machine they are 2 CPU processes over gloo,
launched as 2 GPUs would be (``--multi_gpu --num_processes 2``)."""

import os
import signal
import subprocess
import sys
import time

import datasets
import numpy as np
import pytest
import torch
from datasets.distributed import split_dataset_by_node
from PIL import Image
from safetensors.torch import load_file
from test_training import ROOT

from hf_colorize.training import build_parser, train
from hf_colorize.training.checkpoints import checkpoint_steps
from hf_colorize.training.data import load_image_dataset, streamed_examples

STEPS = 6
EQUIVALENCE_TOLERANCE = 1e-5
"""Largest difference allowed between a weight trained by 2 processes of batch b and by 1 process of batch 2b: the two
sum the same per-example gradients in another order and shape, so they differ by rounding, which Adam's normalised
steps carry into the weights (about 1e-7 measured after 6 steps of learning rate 5e-4; a step moves weights by 5e-4)."""


@pytest.fixture(scope="module")
def eight_images(tmp_path_factory):
    """Eight small images: batches of 2 on 2 processes and of 4 on 1 process cover them in 2 steps an epoch."""
    folder = tmp_path_factory.mktemp("eight")
    rng = np.random.default_rng(1)
    for index in range(8):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"image{index}.png")
    return folder


def training_arguments(config_dir, output_dir, batch_size, *extra) -> list[str]:
    return [
        "--config", str(config_dir), "--output_dir", str(output_dir), "--resolution", "64", "--max_hints", "5",
        "--train_batch_size", str(batch_size), "--max_train_steps", str(STEPS), "--lr_warmup_steps", "0",
        "--checkpointing_steps", "1", "--checkpoints_total_limit", str(STEPS), "--report_to", "none", *extra,
    ]  # fmt: skip


def launch_command(*arguments) -> list[str]:
    """``accelerate launch`` of ``examples/train.py`` on 2 processes (a free port, so runs never collide)."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    return [*launch, "--main_process_port", "0", str(ROOT / "examples" / "train.py"), *arguments]


LAUNCH_ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def launch(*arguments) -> subprocess.CompletedProcess:
    done = subprocess.run(
        launch_command(*arguments), capture_output=True, text=True, timeout=900, env=LAUNCH_ENVIRONMENT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def weights(path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def largest_difference(first, second) -> float:
    first, second = weights(first), weights(second)
    assert first.keys() == second.keys()
    return max(float((first[name] - second[name]).abs().max()) for name in first)


@pytest.fixture(scope="module")
def two_processes(eight_images, config_dir, tmp_path_factory):
    """An uninterrupted run of 2 processes of batch 2, a checkpoint at every step."""
    output_dir = tmp_path_factory.mktemp("two-processes")
    done = launch(*training_arguments(config_dir, output_dir, 2, "--train_data_dir", str(eight_images)))
    return output_dir, done.stdout


def test_two_processes_share_the_data_and_only_the_main_one_writes(two_processes):
    output_dir, stdout = two_processes
    assert stdout.count("--train_data_dir") == 1  # printed by the main process alone
    assert checkpoint_steps(output_dir) == list(range(1, STEPS + 1))
    checkpoint = output_dir / f"checkpoint-{STEPS}"
    # accelerate keeps each process's random state; everything else is the main process's, written once
    random_states = {path.name for path in checkpoint.glob("random_states_*.pkl")}
    assert random_states == {"random_states_0.pkl", "random_states_1.pkl"}
    assert (output_dir / "README.md").is_file() and not list(output_dir.glob(".tmp-*"))


def test_two_processes_of_batch_b_end_as_one_process_of_batch_2b(two_processes, eight_images, config_dir, tmp_path):
    output_dir, _ = two_processes
    data = ["--train_data_dir", str(eight_images)]
    train(build_parser().parse_args(training_arguments(config_dir, tmp_path / "one-of-4", 4, *data)))
    train(build_parser().parse_args(training_arguments(config_dir, tmp_path / "one-of-2", 2, *data)))
    same_data = largest_difference(output_dir / "model.safetensors", tmp_path / "one-of-4" / "model.safetensors")
    half_the_data = largest_difference(output_dir / "model.safetensors", tmp_path / "one-of-2" / "model.safetensors")
    assert same_data <= EQUIVALENCE_TOLERANCE
    assert half_the_data > 100 * EQUIVALENCE_TOLERANCE  # the tolerance tells a run on other batches apart


def test_a_killed_two_process_run_resumes_on_two_processes_and_ends_where_an_uninterrupted_one_does(
    two_processes, eight_images, config_dir, tmp_path
):
    uninterrupted, _ = two_processes
    output_dir = tmp_path / "killed"
    arguments = training_arguments(config_dir, output_dir, 2, "--train_data_dir", str(eight_images))
    # Its own session: SIGKILL reaches the launcher and both training processes at once, as a lost node would.
    process = subprocess.Popen(
        launch_command(*arguments),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=LAUNCH_ENVIRONMENT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 900
        while not (output_dir / "checkpoint-2").is_dir() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    killed_at = checkpoint_steps(output_dir)
    assert 2 <= max(killed_at) < STEPS
    launch(*arguments, "--resume_from_checkpoint", "latest")
    assert checkpoint_steps(output_dir) == list(range(1, STEPS + 1))
    for name in (f"checkpoint-{STEPS}/model/model.safetensors", "model.safetensors"):
        assert largest_difference(uninterrupted / name, output_dir / name) == 0.0


@pytest.fixture(scope="module")
def parquet_dataset(eight_images, tmp_path_factory):
    """The eight images as a local dataset of 2 Parquet shards (``--dataset_name FOLDER``, read offline), with a
    column besides the image."""
    folder = tmp_path_factory.mktemp("parquet")
    files = sorted(eight_images.iterdir())
    features = datasets.Features({"picture": datasets.Image(), "label": datasets.Value("int64")})
    for shard in range(2):
        rows = files[shard * 4 : (shard + 1) * 4]
        pictures = [{"bytes": path.read_bytes(), "path": path.name} for path in rows]
        part = datasets.Dataset.from_dict({"picture": pictures, "label": [shard] * 4}, features=features)
        part.to_parquet(str(folder / "data" / f"train-0000{shard}-of-00002.parquet"))
    return folder


def test_each_process_streams_its_own_part_of_the_dataset(parquet_dataset, eight_images):
    stream, sources = load_image_dataset(dataset_name=str(parquet_dataset), image_column="picture", streaming=True)
    assert sources[0].count is None and str(sources[0]).endswith(": streamed")
    parts = []
    for rank in range(2):
        part = split_dataset_by_node(stream, rank, 2)
        examples = streamed_examples(part, 0, 0, rank, 2)
        parts.append([(example["image"].tobytes(), example["index"]) for example in examples])
    pixels = [{image for image, _ in part} for part in parts]
    assert pixels[0].isdisjoint(pixels[1])
    assert pixels[0] | pixels[1] == {Image.open(path).tobytes() for path in eight_images.iterdir()}
    assert sorted(index for part in parts for _, index in part) == list(range(8))  # unique over the processes


def test_a_streamed_run_resumes_exactly(parquet_dataset, config_dir, tmp_path):
    streamed = ["--dataset_name", str(parquet_dataset), "--image_column", "picture", "--streaming"]
    train(build_parser().parse_args(training_arguments(config_dir, tmp_path / "whole", 2, *streamed)))
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (tmp_path / "whole" / "checkpoint-5").rename(resumed / "checkpoint-5")  # an epoch of 4 batches, and 1 batch
    resume = ["--resume_from_checkpoint", "latest"]
    train(build_parser().parse_args(training_arguments(config_dir, resumed, 2, *streamed, *resume)))
    assert largest_difference(tmp_path / "whole" / "model.safetensors", resumed / "model.safetensors") == 0.0


def test_streaming_trains_under_two_processes(parquet_dataset, config_dir, tmp_path):
    output_dir = tmp_path / "streamed"
    streamed = ["--dataset_name", str(parquet_dataset), "--image_column", "picture", "--streaming"]
    done = launch(*training_arguments(config_dir, output_dir, 2, *streamed))
    assert f"--dataset_name {parquet_dataset} (train): streamed" in done.stdout
    assert checkpoint_steps(output_dir) == list(range(1, STEPS + 1))
    assert (output_dir / "model.safetensors").is_file()
