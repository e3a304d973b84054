"""SMSANet ablation, measured: the same training budget with and without stacked multi-scale attention (SMSA)
and with and without the salient loss, the four rows of the paper's Tables 2-3.

    python benchmarks/smsanet_ablation.py [--variant hub_configs/smsanet-small] [--max_train_steps 500]
        [--train_batch_size 16] [--resolution 128] [--learning_rate 5e-4] [--lr_warmup_steps 50] [--seed 0]
        [--checkpointing_steps 100] [--mixed_precision no|bf16] [--train_data_dir DIR ...] [--corpus ../shared/corpus]
        [--runs_dir runs/smsanet-ablation] [--output benchmarks/results/smsanet_ablation] [--num_threads 2]

Each row is the ``--variant`` config with ``use_smsa`` and ``use_salient_loss`` set (written to
``RUNS_DIR/configs/<row>``), trained from scratch by ``hf_colorize.training.train`` into ``RUNS_DIR/<row>``
with the same steps, seed, data (default: ``photos/train`` and ``illustrations/train`` of the corpus),
resolution, batch and learning rate. Rows resume from their latest checkpoint, so a killed ablation picks up
where it stopped; a finished row is not trained again, and a row folder trained with other settings stops the
run. Then each row's final model and the grey baseline are scored at k = 0 on ``photos/test`` and
``illustrations/test`` with the protocol of ``evaluate_quality.py``. Writes ``OUTPUT.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from evaluate_quality import (
    CORPUS,
    FOLDERS,
    PROTOCOL,
    RESULTS,
    Method,
    evaluate_folder,
    grey,
    model_method,
    paths_of_test_set,
)
from transformers import AutoConfig, AutoModelForImageToImage

import hf_colorize  # noqa: F401  (registers the families)
from hf_colorize.evaluation.report import METRIC_LABELS, markdown_table, write_results
from hf_colorize.training import TrainingArgumentError, build_parser, train
from hf_colorize.training.trainer import checkpoint_steps

ROOT = Path(__file__).resolve().parents[1]
TRAIN_FOLDERS = ("photos/train", "illustrations/train")
COLUMNS = ("psnr", "ssim", "colorfulness")
RECORD = "ablation.json"
"""In each row's folder: the settings it was started with and its training wall time, summed over the sessions
that trained it (a session killed outright, SIGKILL or power loss, does not add its time)."""


@dataclass(frozen=True)
class Row:
    label: str
    folder: str
    use_smsa: bool
    use_salient_loss: bool


ROWS = (
    Row("Zhang et al. base", "base", use_smsa=False, use_salient_loss=False),
    Row("+ SMSA", "smsa", use_smsa=True, use_salient_loss=False),
    Row("+ salient loss", "salient-loss", use_smsa=False, use_salient_loss=True),
    Row("+ SMSA + salient loss", "smsa-salient-loss", use_smsa=True, use_salient_loss=True),
)

BUDGET = {
    "max_train_steps": (int, 500),
    "train_batch_size": (int, 16),
    "resolution": (int, 128),
    "learning_rate": (float, 5e-4),
    "lr_warmup_steps": (int, 50),
    "seed": (int, 0),
    "checkpointing_steps": (int, 100),
    "mixed_precision": (str, "no"),
}
"""Trainer options every row gets alike: type and default here; passed through to ``build_parser``."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default=str(ROOT / "hub_configs" / "smsanet-small"), help="smsanet config")
    for name, (kind, default) in BUDGET.items():
        parser.add_argument(f"--{name}", type=kind, default=default)
    parser.add_argument("--corpus", default=str(CORPUS), help="holds the test folders (and the default train ones)")
    parser.add_argument("--train_data_dir", nargs="+", help="default: CORPUS/photos/train CORPUS/illustrations/train")
    parser.add_argument("--runs_dir", default=str(ROOT / "runs" / "smsanet-ablation"), help="one folder per row")
    parser.add_argument("--output", default=str(RESULTS / "smsanet_ablation"), help="output path without extension")
    parser.add_argument("--num_threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    args.train_data_dir = args.train_data_dir or [str(Path(args.corpus) / folder) for folder in TRAIN_FOLDERS]
    return args


def training_settings(args: argparse.Namespace) -> dict:
    """What must be the same for every row, and for every session that trains one row."""
    return {
        "variant": str(Path(args.variant).resolve()),
        "train_data_dir": [str(Path(folder).resolve()) for folder in args.train_data_dir],
        **{name: getattr(args, name) for name in BUDGET},
    }


def write_config(variant: str, row: Row, folder: Path) -> Path:
    """The variant's config with the row's two switches, saved as ``folder/config.json``."""
    config = AutoConfig.from_pretrained(variant)
    if config.model_type != "smsanet":
        raise SystemExit(f"--variant {variant}: a {config.model_type!r} config, not an smsanet one")
    config.use_smsa = row.use_smsa
    config.use_salient_loss = row.use_salient_loss
    config.save_pretrained(folder)
    return folder


def trainer_argv(settings: dict, config: Path, output_dir: Path) -> list[str]:
    argv = ["--config", str(config), "--output_dir", str(output_dir), "--resume_from_checkpoint", "latest"]
    argv += ["--train_data_dir", *settings["train_data_dir"]]
    for name in BUDGET:
        argv += [f"--{name}", str(settings[name])]
    return argv


def finished(output_dir: Path, steps: int) -> bool:
    """The final model is saved and the last checkpoint is at the full step count."""
    saved = all((output_dir / name).exists() for name in ("model.safetensors", "config.json"))
    return saved and checkpoint_steps(output_dir)[-1:] == [steps]


def device_name() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"


def train_row(row: Row, settings: dict, runs_dir: Path) -> dict:
    """Train (or resume, or skip) one row; returns its record: settings, device and training wall time."""
    output_dir = runs_dir / row.folder
    record_path = output_dir / RECORD
    record = json.loads(record_path.read_text()) if record_path.exists() else {"wall_time_s": 0.0}
    earlier = record.get("settings", settings)
    if earlier != settings:
        changes = ", ".join(f"{name} {earlier.get(name)}" for name in settings if earlier.get(name) != settings[name])
        raise SystemExit(f"{output_dir} was trained with other settings ({changes}): use another --runs_dir")
    if finished(output_dir, settings["max_train_steps"]):
        print(f"{row.label}: already trained in {output_dir}")
        return record
    config = write_config(settings["variant"], row, runs_dir / "configs" / row.folder)
    record.update(settings=settings, device=device_name())
    output_dir.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    start = time.perf_counter()
    try:
        train(build_parser().parse_args(trainer_argv(settings, config, output_dir)))
    finally:
        record["wall_time_s"] += time.perf_counter() - start
        record_path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def row_summary(row: Row, record: dict) -> dict:
    """A row's switches, folder, training device and wall time, as the results file keeps them."""
    return {
        "folder": row.folder,
        "use_smsa": row.use_smsa,
        "use_salient_loss": row.use_salient_loss,
        "device": record["device"],
        "wall_time_s": record["wall_time_s"],
    }


def evaluate(runs_dir: Path, corpus: Path) -> tuple[dict, dict]:
    """Scores at k = 0 (``scores[folder][method]["0"][metric]``) and image counts, per test folder."""
    methods: dict[str, Method] = {"grey": grey}
    for row in ROWS:
        methods[row.label] = model_method(AutoModelForImageToImage.from_pretrained(runs_dir / row.folder).eval())
    scores, counts = {}, {}
    for label in FOLDERS:
        paths = paths_of_test_set(corpus, label)
        with torch.no_grad():
            scores[label] = evaluate_folder(methods, paths, label, counts=dict.fromkeys(methods, [0]))
        counts[label] = len(paths)
    return scores, counts


def duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def precision_text(mixed_precision: str) -> str:
    return "" if mixed_precision == "no" else f", {mixed_precision} autocast"


def markdown(results: dict) -> str:
    settings = results["training"]
    rows = results["rows"]
    wall_times = ", ".join(f"{label} {duration(row['wall_time_s'])}" for label, row in rows.items())
    devices = sorted({row["device"] for row in rows.values()})
    lines = [
        "# SMSANet ablation: SMSA and the salient loss (paper Tables 2-3), measured",
        "",
        f"Variant `{Path(settings['variant']).name}`, each row trained from scratch on the same budget: "
        f"{settings['max_train_steps']} steps of batch {settings['train_batch_size']} at "
        f"{settings['resolution']}x{settings['resolution']} (AdamW, peak learning rate {settings['learning_rate']}, "
        f"{settings['lr_warmup_steps']} warm-up steps, cosine decay, seed {settings['seed']}"
        f"{precision_text(settings['mixed_precision'])}) on "
        + ", ".join(f"`{Path(folder).parent.name}/{Path(folder).name}`" for folder in settings["train_data_dir"])
        + f". Training wall time per row (on {'; '.join(devices)}): {wall_times}.",
        "",
        f"Automatic colorization (k = 0). Protocol (`hf_colorize.evaluation.protocol`): {results['protocol']}",
    ]
    for folder, scores in results["folders"].items():
        table = {name: scores[name]["0"] for name in ("grey", *rows)}
        lines += ["", f"## `{folder}` ({results['counts'][folder]} images)", ""]
        lines.append(markdown_table(table, COLUMNS, [METRIC_LABELS[column] for column in COLUMNS]))
        lines += ["", f"Colourfulness of the ground truth: {scores['ground truth']['colorfulness']:.2f}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.num_threads)
    settings = training_settings(args)
    runs_dir = Path(args.runs_dir)
    try:
        # The full model trains first: it is the candidate for the bundled smsanet-small.
        records = {row.label: train_row(row, settings, runs_dir) for row in reversed(ROWS)}
        rows = {row.label: row_summary(row, records[row.label]) for row in ROWS}
    except TrainingArgumentError as error:
        raise SystemExit(f"training: {error}") from None
    scores, counts = evaluate(runs_dir, Path(args.corpus))
    results = {"protocol": PROTOCOL, "k": 0, "training": settings, "rows": rows, "folders": scores, "counts": counts}
    write_results(args.output, results, markdown(results))


if __name__ == "__main__":
    main()
