import json
import logging
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from safetensors.torch import save_file
from test_training import ROOT, assert_same_weights

from hf_colorize import DlsaForColorization
from hf_colorize.training import TrainingArgumentError, build_parser, main, train
from hf_colorize.training.checkpoints import checkpoint_problem, checkpoint_steps
from hf_colorize.training.export import load_checkpoint_into


def command_line(image_folder, config_dir, output_dir, *extra) -> list[str]:
    return [
        "--config", str(config_dir), "--train_data_dir", str(image_folder), "--output_dir", str(output_dir),
        "--resolution", "64", "--train_batch_size", "2", "--checkpointing_steps", "2", "--max_hints", "5",
        "--report_to", "none", *extra,
    ]  # fmt: skip


def run(image_folder, config_dir, output_dir, *extra) -> None:
    train(build_parser().parse_args(command_line(image_folder, config_dir, output_dir, *extra)))


@pytest.fixture(scope="module")
def four_steps(image_folder, config_dir, tmp_path_factory):
    """An uninterrupted 4-step run with EMA: checkpoints at steps 2 and 4."""
    output_dir = tmp_path_factory.mktemp("four-steps")
    run(image_folder, config_dir, output_dir, "--max_train_steps", "4", "--use_ema")
    return output_dir


def test_each_checkpoint_has_a_manifest_of_its_files(four_steps):
    checkpoint = four_steps / "checkpoint-4"
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    files = {path.relative_to(checkpoint).as_posix() for path in checkpoint.rglob("*") if path.is_file()}
    assert set(manifest) == files - {"manifest.json"}
    assert {"model/model.safetensors", "model_ema/model.safetensors", "random_states_0.pkl"} <= set(manifest)
    assert all(entry["size"] == (checkpoint / name).stat().st_size for name, entry in manifest.items())
    assert checkpoint_problem(checkpoint) is None
    assert not list(checkpoint.glob("custom_checkpoint_*.pkl"))  # no pickled object of ours: the EMA is model_ema/


def cut_in_half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damaged", ["random_states_0.pkl", "model/model.safetensors"])
def test_resume_falls_back_from_a_damaged_checkpoint_and_stays_exact(
    four_steps, image_folder, config_dir, tmp_path, caplog, damaged
):
    resumed = tmp_path / "resumed"
    for step in (2, 4):
        shutil.copytree(four_steps / f"checkpoint-{step}", resumed / f"checkpoint-{step}")
    cut_in_half(resumed / "checkpoint-4" / damaged)
    with caplog.at_level(logging.WARNING):
        run(
            image_folder,
            config_dir,
            resumed,
            "--max_train_steps",
            "4",
            "--use_ema",
            "--resume_from_checkpoint",
            "latest",
        )
    (line,) = [record.getMessage() for record in caplog.records if "does not verify" in record.getMessage()]
    assert str(resumed / "checkpoint-4") in line and damaged in line and "falling back" in line
    for name in ("model/model.safetensors", "model_ema/model.safetensors"):  # steps 3 and 4 retrained exactly
        assert_same_weights(four_steps / "checkpoint-4" / name, resumed / "checkpoint-4" / name)
    assert checkpoint_problem(resumed / "checkpoint-4") is None


def test_a_checkpoint_that_does_not_verify_is_never_resumed(four_steps, image_folder, config_dir, tmp_path):
    named = tmp_path / "named" / "checkpoint-4"
    shutil.copytree(four_steps / "checkpoint-4", named)
    cut_in_half(named / "optimizer.bin")
    resume = ["--max_train_steps", "6", "--use_ema", "--resume_from_checkpoint"]
    with pytest.raises(TrainingArgumentError, match=r"not a complete checkpoint \(optimizer.bin has [\d,]+ bytes"):
        run(image_folder, config_dir, tmp_path / "named", *resume, str(named))
    with pytest.raises(TrainingArgumentError, match="no checkpoint in .* verifies"):
        run(image_folder, config_dir, tmp_path / "named", *resume, "latest")  # and no fresh start over it
    assert checkpoint_steps(tmp_path / "named") == [4]


@pytest.mark.parametrize("case", ["read-only", "under a file"])
def test_an_output_dir_that_cannot_be_written_is_one_line(image_folder, config_dir, tmp_path, capsys, case):
    if case == "read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        output_dir, reason = tmp_path / "read-only", "Permission denied"
        output_dir.mkdir(mode=0o555)
    else:
        (tmp_path / "a-file").write_text("")
        output_dir, reason = tmp_path / "a-file" / "run", "Not a directory"
    with pytest.raises(SystemExit) as stop:
        main(command_line(image_folder, config_dir, output_dir, "--max_train_steps", "1"))
    error = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and error[-1].endswith(
        f"error: --output_dir {output_dir}: cannot write there ({reason})"
    )


def test_a_full_disk_is_one_line_naming_the_checkpoint(image_folder, config_dir, tmp_path):
    # RLIMIT_FSIZE makes every write past 40 kB fail as a full disk would: the weights (about 200 kB) do not fit.
    output_dir, limit = tmp_path / "full", 40_000
    command = [sys.executable, str(ROOT / "examples" / "train.py")]
    command += command_line(image_folder, config_dir, output_dir, "--max_train_steps", "2")
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last_line = done.stderr.strip().splitlines()[-1]
    assert f"error: {output_dir / 'checkpoint-2'}: cannot write the checkpoint (" in last_line
    assert checkpoint_steps(output_dir) == [] and not list(output_dir.glob(".tmp-checkpoint-*"))


def test_a_half_written_checkpoint_is_removed_at_the_next_start(image_folder, config_dir, tmp_path):
    leftover = tmp_path / "run" / ".tmp-checkpoint-7"
    leftover.mkdir(parents=True)
    (leftover / "optimizer.bin").write_bytes(b"\0" * 100)
    run(image_folder, config_dir, tmp_path / "run", "--max_train_steps", "1")
    assert not leftover.exists() and checkpoint_steps(tmp_path / "run") == [1]


class TouchesAFile:
    """Unpickling this runs code: it creates ``path``."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return Path.touch, (self.path,)


def legacy_checkpoint(folder: Path, model: torch.nn.Module, ema_state: dict) -> Path:
    """A checkpoint as the trainer wrote them before ``model/``: accelerate's weights and its EMA pickle."""
    folder.mkdir()
    save_file(model.state_dict(), str(folder / "model.safetensors"))
    torch.save(ema_state, folder / "custom_checkpoint_0.pkl")
    return folder


def test_legacy_checkpoints_load_their_ema_weights_without_unpickling_objects(tmp_path):
    from diffusers.training_utils import EMAModel

    model = DlsaForColorization(tiny_config())
    ema = EMAModel(model.parameters(), decay=0.9)
    ema.shadow_params = [torch.full_like(average, 0.5) for average in ema.shadow_params]
    loaded = load_checkpoint_into(
        DlsaForColorization(tiny_config()), legacy_checkpoint(tmp_path / "a", model, ema.state_dict())
    )
    assert all(torch.equal(parameter, torch.full_like(parameter, 0.5)) for parameter in loaded.parameters())

    marker = tmp_path / "code-ran"
    crafted = legacy_checkpoint(tmp_path / "b", model, {"shadow_params": [], "payload": TouchesAFile(marker)})
    with pytest.raises(ValueError, match="custom_checkpoint_0.pkl: not an EMA state of tensors and numbers, refused"):
        load_checkpoint_into(DlsaForColorization(tiny_config()), crafted)
    assert not marker.exists()


def test_a_pickle_planted_in_a_checkpoint_is_refused_unread(four_steps, image_folder, config_dir, tmp_path):
    checkpoint, marker = tmp_path / "run" / "checkpoint-4", tmp_path / "code-ran"
    shutil.copytree(four_steps / "checkpoint-4", checkpoint)
    torch.save({"payload": TouchesAFile(marker)}, checkpoint / "custom_checkpoint_0.pkl")
    resume = ["--max_train_steps", "6", "--use_ema", "--resume_from_checkpoint", str(checkpoint)]
    with pytest.raises(TrainingArgumentError, match="custom_checkpoint_0.pkl is not in its manifest"):
        run(image_folder, config_dir, tmp_path / "run", *resume)
    assert not marker.exists()


def test_no_code_of_ours_unpickles_without_weights_only():
    assert [path for path in (ROOT / "src").rglob("*.py") if "weights_only=False" in path.read_text()] == []
