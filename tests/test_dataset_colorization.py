"""Dataset-scale colorization: ``hf_colorize.colorize_dataset`` and ``hf-colorize dataset``."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from hf_colorize import colorize_dataset
from hf_colorize.cli import main
from hf_colorize.dataset_colorization import DatasetColorizationError

ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def save_images(folder: Path, names: list[str], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (24 + len(name), 40, 3), dtype=np.uint8)).save(folder / name)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Seven images, one of them in a subfolder, one truncated and one not an image at all."""
    folder = tmp_path_factory.mktemp("photos")
    save_images(folder, ["a.png", "b.jpg", "c.png", "d.png", "nested/e.png"])
    whole = (folder / "a.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (folder / "garbage.jpg").write_bytes(b"not a jpeg at all")
    return folder


def read_back(output_dir: Path) -> datasets.Dataset:
    return datasets.load_dataset(str(output_dir), split="train")


def rows_by_file(dataset: datasets.Dataset) -> dict[str, dict]:
    rows = {}
    for row in dataset:
        assert row["file_name"] not in rows, f"{row['file_name']} twice"
        rows[row["file_name"]] = row
    return rows


@pytest.fixture(scope="module")
def one_process(photos, tiny_model_dir, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("one-process") / "out"
    result = colorize_dataset(photos, output_dir, tiny_model_dir, batch_size=2, shard_size=3, progress=False)
    return output_dir, result


def test_a_folder_becomes_a_dataset_that_load_dataset_reads_back(one_process, photos, tiny_model_dir):
    output_dir, result = one_process
    assert (result.rows, result.errors, result.shards_written, result.shards_skipped) == (7, 2, 3, 0)
    assert sorted(path.name for path in (output_dir / "data").iterdir()) == [
        f"train-0000{index}-of-00003.parquet" for index in range(3)
    ]
    colorized = read_back(output_dir)
    assert set(colorized.column_names) == {"image", "file_name", "model", "error"}
    rows = rows_by_file(colorized)
    assert sorted(rows) == ["a.png", "b.jpg", "c.png", "d.png", "garbage.jpg", "nested/e.png", "truncated.png"]
    for name in ("a.png", "b.jpg", "nested/e.png"):
        assert rows[name]["error"] is None and rows[name]["model"] == tiny_model_dir
        image, original = rows[name]["image"], Image.open(photos / name)
        assert image.mode == "RGB" and image.size == original.size
    for name in ("garbage.jpg", "truncated.png"):  # recorded, named, and the job went on
        assert rows[name]["image"] is None and rows[name]["error"].startswith(f"{photos / name}: ")
    parquet = datasets.load_dataset("parquet", data_dir=str(output_dir / "data"), split="train")
    assert parquet.num_rows == 7 and isinstance(parquet.features["image"], datasets.Image)


def test_two_processes_give_the_same_rows_as_one(one_process, photos, tiny_model_dir, tmp_path):
    output_dir = tmp_path / "two-processes"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command = [*launch, "--main_process_port", "0", "-m", "hf_colorize.cli", "dataset", str(photos)]
    command += ["-o", str(output_dir), "--model", tiny_model_dir, "--batch_size", "2", "--shard_size", "3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=ENVIRONMENT)
    assert done.returncode == 0, done.stderr[-3000:]  # done, though two images could not be colorized
    assert done.stdout.count("7 images in 3 shards, 2 could not be colorized") == 1  # counted over both processes
    assert "on 2 processes" in done.stdout
    one, two = rows_by_file(read_back(one_process[0])), rows_by_file(read_back(output_dir))
    assert one.keys() == two.keys()
    for name, row in one.items():
        assert row["error"] == two[name]["error"]
        if row["image"] is not None:
            assert np.array_equal(np.asarray(row["image"]), np.asarray(two[name]["image"])), name


def test_a_killed_job_started_again_ends_with_every_image_exactly_once(tiny_model_dir, tmp_path):
    photos = tmp_path / "photos"
    names = [f"{index:02d}.png" for index in range(12)]
    save_images(photos, names)
    output_dir = tmp_path / "out"
    command = [sys.executable, "-m", "hf_colorize.cli", "dataset", str(photos), "-o", str(output_dir)]
    command += ["--model", tiny_model_dir, "--batch_size", "1", "--shard_size", "1", "--no-progress"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENVIRONMENT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 600
        while not list((output_dir / "data").glob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    done_before = len(list((output_dir / "data").glob("*.parquet")))
    assert 1 <= done_before < len(names)

    result = colorize_dataset(photos, output_dir, tiny_model_dir, batch_size=1, shard_size=1, progress=False)
    assert result.shards_skipped == done_before and result.shards_written == len(names) - done_before
    assert sorted(rows_by_file(read_back(output_dir))) == names  # each once: rows_by_file refuses a repeat
    assert not list((output_dir / "data").glob(".*"))  # no temporary shard left


def test_a_saved_dataset_keeps_its_other_columns(photos, tiny_model_dir, tmp_path):
    pictures = [{"bytes": (photos / name).read_bytes(), "path": name} for name in ("a.png", "b.jpg", "c.png")]
    features = datasets.Features({"picture": datasets.Image(), "caption": datasets.Value("string")})
    source = datasets.Dataset.from_dict({"picture": pictures, "caption": ["x", "y", "z"]}, features=features)
    datasets.DatasetDict({"train": source}).save_to_disk(str(tmp_path / "saved"))
    colorize_dataset(tmp_path / "saved", tmp_path / "out", tiny_model_dir, image_column="picture", progress=False)
    colorized = read_back(tmp_path / "out")
    assert colorized.column_names == ["picture", "caption", "model", "error"]
    assert colorized["caption"] == ["x", "y", "z"]
    assert [image.size for image in colorized["picture"]] == [
        Image.open(photos / name).size for name in ("a.png", "b.jpg", "c.png")
    ]


def test_a_streamed_dataset_gives_one_shard_per_source_shard(photos, tiny_model_dir, tmp_path):
    source = tmp_path / "parquet"
    for shard, names in enumerate([["a.png", "b.jpg"], ["c.png"]]):
        pictures = [{"bytes": (photos / name).read_bytes(), "path": name} for name in names]
        part = datasets.Dataset.from_dict({"image": pictures}, features=datasets.Features({"image": datasets.Image()}))
        part.to_parquet(str(source / "data" / f"train-0000{shard}-of-00002.parquet"))
    result = colorize_dataset(source, tmp_path / "out", tiny_model_dir, progress=False)
    assert (result.rows, result.shards_written) == (3, 2)
    assert sorted(path.name for path in (tmp_path / "out" / "data").iterdir()) == [
        "train-00000-of-00002.parquet",
        "train-00001-of-00002.parquet",
    ]


def test_the_command_line_names_each_bad_image_and_goes_on(photos, tiny_model_dir, tmp_path, capsys, caplog):
    output_dir = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        status = main(["dataset", str(photos), "-o", str(output_dir), "--model", tiny_model_dir, "--no-progress"])
    assert status == 0  # the job is done: the bad images are in the dataset, with their problem
    assert "7 images in 1 shards, 2 could not be colorized" in capsys.readouterr().out
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert sorted(warning.split(": ")[0] for warning in warnings) == [
        str(photos / "garbage.jpg"),
        str(photos / "truncated.png"),
    ]


def test_an_output_made_with_other_settings_is_refused(one_process, photos, tiny_model_dir, capsys):
    output_dir, _ = one_process
    with pytest.raises(DatasetColorizationError, match="shard_size 3 there, 2 now"):
        colorize_dataset(photos, output_dir, tiny_model_dir, shard_size=2, progress=False)
    status = main(["dataset", str(photos), "-o", str(output_dir), "--model", tiny_model_dir, "--shard_size", "2"])
    assert status == 2 and "holds shards made with other settings" in capsys.readouterr().err
    assert json.loads((output_dir / "colorization.json").read_text())["shard_size"] == 3


def test_bad_sources_and_models_are_one_line(photos, tiny_exemplar_dir, tmp_path, capsys):
    cases = [
        (["dataset", str(tmp_path / "missing"), "-o", str(tmp_path / "o")], "missing: no such file or folder"),
        (["dataset", str(photos / "a.png"), "-o", str(tmp_path / "o")], "a single image"),
        (["dataset", str(photos), "-o", str(tmp_path / "o"), "--model", str(tiny_exemplar_dir)], "needs a reference"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0], error


class StandInHfApi:
    """Records what is asked of ``huggingface_hub.HfApi`` and keeps the uploaded files in a folder."""

    calls = []
    hub = None

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, repo_type=None, private=False, exist_ok=False):
        StandInHfApi.calls.append(("create_repo", repo_id, repo_type, private))

    def upload_folder(self, repo_id, folder_path, repo_type=None, allow_patterns=None, commit_message=None):
        from huggingface_hub.utils import filter_repo_objects

        StandInHfApi.calls.append(("upload_folder", repo_id, repo_type))
        files = [path.relative_to(folder_path).as_posix() for path in Path(folder_path).rglob("*") if path.is_file()]
        for name in filter_repo_objects(files, allow_patterns=allow_patterns):
            target = StandInHfApi.hub / repo_id / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((Path(folder_path) / name).read_bytes())
        return f"https://huggingface.co/datasets/{repo_id}/commit/0"


def test_push_to_hub_uploads_the_shards_and_the_card(photos, tiny_model_dir, tmp_path, monkeypatch):
    import huggingface_hub

    StandInHfApi.calls, StandInHfApi.hub = [], tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub, "HfApi", StandInHfApi)
    options = dict(shard_size=4, progress=False, push_to_hub=True, hub_dataset_id="me/colorized", hub_private_repo=True)
    colorize_dataset(photos, tmp_path / "out", tiny_model_dir, **options)
    assert StandInHfApi.calls == [
        ("create_repo", "me/colorized", "dataset", True),
        ("upload_folder", "me/colorized", "dataset"),
    ]
    uploaded = StandInHfApi.hub / "me" / "colorized"
    assert sorted(path.relative_to(uploaded).as_posix() for path in uploaded.rglob("*") if path.is_file()) == [
        "README.md",
        "colorization.json",
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
    ]
    assert read_back(uploaded).num_rows == 7  # the card's metadata points datasets at the shards
    assert 'load_dataset("me/colorized"' in (uploaded / "README.md").read_text()


@pytest.mark.hub
def test_push_to_the_real_hub(photos, tiny_model_dir, tmp_path):
    repository = os.environ["HF_COLORIZE_TEST_DATASET"]  # ORG/NAME of a dataset repository the token may write
    colorize_dataset(
        photos, tmp_path / "out", tiny_model_dir, progress=False, push_to_hub=True, hub_dataset_id=repository
    )
    assert datasets.load_dataset(repository, split="train").num_rows == 7
