"""Colorize a whole dataset into a dataset: an image folder, a local ``datasets`` dataset (``save_to_disk``) or a Hub
dataset (streamed) becomes Parquet shards that ``datasets.load_dataset`` reads back, each row holding the colorized
image, the source's other columns, the model's id and, for an image that could not be colorized, the problem.

The work rides on ``datasets`` (reading, streaming, Parquet, the Hub) and ``accelerate`` (processes and devices):

- **Shards.** The output is ``OUTPUT/data/train-KKKKK-of-NNNNN.parquet``: ``shard_size`` rows of the source each
  (a streamed source: one output shard per source shard). Under ``accelerate launch --num_processes P`` process
  ``p`` colorizes the shards ``k`` with ``k % P == p`` on its own device.
- **Restart.** A shard is written as ``data/.NAME.tmp`` and renamed when complete, and a shard already there is
  skipped, so a killed job started again does the rest: every image exactly once. ``OUTPUT/colorization.json``
  records what the shards were made from; a restart with another source, model or shard size is refused.
- **Bad images.** An image that cannot be decoded or colorized gets a row with no image and the problem, naming
  the file (or row), in the ``error`` column, and one warning; the rest goes on.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .bundled import DEFAULT_MODEL
from .hub import upload_folder
from .images import IMAGE_EXTENSIONS, cannot_write, decode_image, image_files

logger = logging.getLogger(__name__)

MODEL_COLUMN = "model"
"""The output column naming the model that colorized the row."""
ERROR_COLUMN = "error"
"""The output column holding, for a row whose image could not be colorized, the file (or row) and the problem."""
FILE_COLUMN = "file_name"
"""For an image folder: the column of each image's path under the folder."""
SETTINGS_FILE = "colorization.json"
DATA_FOLDER = "data"
SPLIT = "train"
"""The split the output's shards form (``datasets.load_dataset(OUTPUT)["train"]``)."""
DEFAULT_SHARD_SIZE = 1000


class DatasetColorizationError(ValueError):
    """A source, model, output folder or setting that stops the whole job; the message names it."""


@dataclass(frozen=True)
class SourceDataset:
    """The rows to colorize, their images undecoded: ``dataset`` (a ``datasets.Dataset``, or an
    ``IterableDataset`` for a stream), its ``image_column``, and the output's features (the source's, the image
    colorized, plus the model and error columns). A dataset is cut into shards of ``shard_size`` rows; a stream into
    its own shards."""

    name: str
    dataset: Any
    image_column: str
    features: Any
    shard_size: int | None

    @property
    def streamed(self) -> bool:
        return self.shard_size is None

    @property
    def num_rows(self) -> int | None:
        return None if self.streamed else len(self.dataset)

    @property
    def num_shards(self) -> int:
        if self.streamed:
            return self.dataset.num_shards
        return max(1, math.ceil(len(self.dataset) / self.shard_size))

    def shard_range(self, index: int) -> range:
        """The rows of output shard ``index`` of a dataset that is not streamed."""
        return range(index * self.shard_size, min((index + 1) * self.shard_size, len(self.dataset)))

    def shard_rows(self, index: int) -> Iterator[tuple[str, dict]]:
        """The rows of output shard ``index``, each with the name that a problem with its image is reported under:
        the image's path (an image folder's files have theirs), else its row."""
        if self.streamed:
            rows = enumerate(self.dataset.shard(num_shards=self.num_shards, index=index, contiguous=True))
            where = f"shard {index} row "
        else:
            shard = self.shard_range(index)
            rows = enumerate(self.dataset.select(shard), start=shard.start)
            where = "row "
        for position, row in rows:
            yield row[self.image_column].get("path") or f"{where}{position}", row


def is_saved_dataset(path: Path) -> bool:
    """Whether ``path`` is a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def check_hub_dataset(name: str) -> None:
    """Raise a one-line :class:`DatasetColorizationError` unless ``name`` (no local file or folder) is a dataset the
    Hub has: a name that is no Hub id (``ORG/NAME``), an offline or unreachable Hub, or no such dataset. One request,
    without the retries ``datasets`` makes for each of its files (half a minute when the Hub cannot be reached)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import RepositoryNotFoundError

    from .pipeline import HUB_ID

    if HUB_ID.fullmatch(name) is None:
        raise DatasetColorizationError(f"{name}: no such file or folder (a Hub dataset id is ORG/NAME)")
    if constants.HF_HUB_OFFLINE:
        raise DatasetColorizationError(f"{name}: no such folder, and the Hub is offline (HF_HUB_OFFLINE is set)")
    try:
        HfApi().dataset_info(name, timeout=10)
    except RepositoryNotFoundError:
        raise DatasetColorizationError(
            f"{name}: no such folder, nor a dataset on the Hub (a private one needs `hf auth login`)"
        ) from None
    except Exception as error:  # no connection, no name resolution, a timeout: the HTTP client's own error classes
        raise DatasetColorizationError(f"{name}: no such folder, and the Hub cannot be reached ({error})") from None


def open_source(
    source: str | os.PathLike,
    image_column: str = "image",
    split: str = "train",
    config_name: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> SourceDataset:
    """``source`` as rows to colorize: a folder saved with ``save_to_disk`` (``split`` of a ``DatasetDict``), an image
    folder (every image file under it, any depth; the ``file_name`` column keeps each one's path under it), or else
    a dataset ``datasets.load_dataset`` streams: a Hub id (``config_name``, ``split``) or a local folder of data
    files.

    Raises:
        DatasetColorizationError: the source cannot be read, is empty, or has no ``image_column``.
    """
    import datasets

    path = Path(source)
    if path.is_dir() and is_saved_dataset(path):
        dataset = datasets.load_from_disk(str(path))
        if isinstance(dataset, datasets.DatasetDict):
            if split not in dataset:
                raise DatasetColorizationError(f"{source}: no split {split!r} (splits: {', '.join(dataset)})")
            dataset = dataset[split]
    elif path.is_dir() and image_files(path):
        files = image_files(path)
        features = datasets.Features(
            {image_column: datasets.Image(decode=False), FILE_COLUMN: datasets.Value("string")}
        )
        columns = {
            image_column: [str(file) for file in files],
            FILE_COLUMN: [file.relative_to(path).as_posix() for file in files],
        }
        dataset = datasets.Dataset.from_dict(columns, features=features)
    elif path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
        raise DatasetColorizationError(f"{source}: a single image; hf-colorize IMAGE colorizes it, this takes a folder")
    else:
        if not path.exists():
            check_hub_dataset(str(source))
        try:
            dataset = datasets.load_dataset(str(source), config_name, split=split, streaming=True)
        except (OSError, ValueError, datasets.exceptions.DatasetNotFoundError) as error:
            raise DatasetColorizationError(
                f"{source}: not an image folder, saved dataset or dataset ({error})"
            ) from None
    return source_dataset(
        str(source), dataset, image_column, None if isinstance(dataset, datasets.IterableDataset) else shard_size
    )


def source_dataset(name: str, dataset, image_column: str, shard_size: int | None) -> SourceDataset:
    """A :class:`SourceDataset` of ``dataset``, checked: it has ``image_column`` and known features, rows (a dataset),
    and no column named as the output's own."""
    import datasets

    if dataset.features is None:
        raise DatasetColorizationError(f"{name}: the stream declares no features; save it with save_to_disk first")
    if image_column not in dataset.features:
        raise DatasetColorizationError(
            f"{name}: no column {image_column!r} (columns: {', '.join(dataset.features)}); give --image_column"
        )
    for column in (MODEL_COLUMN, ERROR_COLUMN):
        if column in dataset.features:
            raise DatasetColorizationError(f"{name}: already has a column {column!r}, which the output adds")
    if shard_size is not None and len(dataset) == 0:
        raise DatasetColorizationError(f"{name}: the dataset has no rows")
    dataset = dataset.cast_column(image_column, datasets.Image(decode=False))
    features = datasets.Features(
        {
            **dataset.features,
            image_column: datasets.Image(),
            MODEL_COLUMN: datasets.Value("string"),
            ERROR_COLUMN: datasets.Value("string"),
        }
    )
    return SourceDataset(name, dataset, image_column, features, shard_size)


def shard_path(output_dir: Path, index: int, num_shards: int) -> Path:
    """Where output shard ``index`` goes, named as ``datasets`` names the shards of a split."""
    return output_dir / DATA_FOLDER / f"{SPLIT}-{index:05d}-of-{num_shards:05d}.parquet"


def check_settings(output_dir: Path, settings: dict) -> None:
    """Refuse an output folder whose shards were made from another source, model or cut (every process checks)."""
    recorded = output_dir / SETTINGS_FILE
    if recorded.is_file():
        before = json.loads(recorded.read_text())
        changed = sorted(name for name in settings if before.get(name) != settings[name])
        if changed:
            differences = ", ".join(f"{name} {before.get(name)!r} there, {settings[name]!r} now" for name in changed)
            raise DatasetColorizationError(
                f"{output_dir}: holds shards made with other settings ({differences}); use another output folder"
            )


def write_settings(output_dir: Path, settings: dict) -> None:
    """Record ``settings`` in a new output folder (the main process), written whole or not at all."""
    recorded = output_dir / SETTINGS_FILE
    if recorded.is_file():
        return
    temporary = recorded.with_name(f".{recorded.name}.tmp")
    try:
        (output_dir / DATA_FOLDER).mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(settings, indent=1) + "\n")
        os.replace(temporary, recorded)
    except OSError as error:
        raise cannot_write(recorded, error) from None


def png_bytes(image: Image.Image) -> bytes:
    """``image`` encoded as PNG (lossless: the pipeline's output as it is)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def naming(name: str, problem: str) -> str:
    """``problem`` as one line that names the file (or row): the pipeline's messages for a file already do."""
    return problem if problem.startswith(name) else f"{name}: {problem}"


class BatchColorizer:
    """Colorizes rows a batch at a time with a pipeline. Each image is decoded here (one that cannot be is left out),
    the others are colorized together, and each output row is the source row with its image colorized (PNG), the
    model's id, and the problem (naming the file or row) if its image could not be colorized."""

    def __init__(self, pipe, image_column: str, model_id: str, call_options: dict):
        self.pipe = pipe
        self.image_column = image_column
        self.model_id = model_id
        self.call_options = call_options

    def __call__(self, named_rows: list[tuple[str, dict]]) -> list[dict]:
        decoded = [decode_image(row[self.image_column]) for _, row in named_rows]
        colorized = iter(self.colorize([image for image, _ in decoded if image is not None]))
        output = []
        for (name, row), (image, problem) in zip(named_rows, decoded):
            if image is not None:
                image, problem = next(colorized)
            if problem is not None:
                problem = naming(name, problem)
                logger.warning("%s", problem)
            colorized_image = None if image is None else {"bytes": png_bytes(image), "path": f"{Path(name).stem}.png"}
            output.append(
                {**row, self.image_column: colorized_image, MODEL_COLUMN: self.model_id, ERROR_COLUMN: problem}
            )
        return output

    def colorize(self, images: list[Image.Image]) -> list[tuple[Image.Image | None, str | None]]:
        """Each image colorized, or ``None`` and the problem. The images go through the pipeline as one batch; if it
        refuses one (too large, no pixels), they go one at a time, so that only that one is left out."""
        if not images:
            return []
        try:
            return [(image, None) for image in self.pipe(images, batch_size=len(images), **self.call_options)]
        except ValueError:
            pass
        results = []
        for image in images:
            try:
                results.append((self.pipe(image, **self.call_options), None))
            except ValueError as error:
                results.append((None, str(error)))
        return results


def batches(rows: Iterator, size: int) -> Iterator[list]:
    """``rows`` in lists of ``size`` (the last one shorter)."""
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_shard(path: Path, rows: Iterator[dict], features) -> tuple[int, int]:
    """Write ``rows`` as the Parquet file ``path``: under ``.NAME.tmp`` next to it, renamed when complete (a failed
    or interrupted write leaves no file under ``path``). Returns the rows written and those with an error.

    Raises:
        OutputWriteError: the file cannot be written (names it and the problem).
    """
    from datasets.arrow_writer import ParquetWriter

    temporary = path.with_name(f".{path.name}.tmp")
    written = errors = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with ParquetWriter(features=features, path=str(temporary)) as writer:
            for row in rows:
                writer.write(row)
                written, errors = written + 1, errors + (row[ERROR_COLUMN] is not None)
            writer.finalize()
        os.replace(temporary, path)
    except OSError as error:
        raise cannot_write(path, error) from None
    finally:
        temporary.unlink(missing_ok=True)
    return written, errors


@dataclass(frozen=True)
class DatasetColorization:
    """What :func:`colorize_dataset` did, over all its processes."""

    output_dir: Path
    rows: int
    """Rows written by this job (colorized or recorded with an error); shards already complete are not counted."""
    errors: int
    """Rows of this job whose image could not be colorized (their ``error`` column says why)."""
    shards_written: int
    shards_skipped: int
    """Shards already complete in the output folder (a restarted job), left as they were."""
    seconds: float
    processes: int = 1
    hub_url: str | None = None
    """The upload's commit, with ``push_to_hub``."""

    @property
    def images_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else math.inf

    def __str__(self) -> str:
        errors = f", {self.errors} could not be colorized (see the {ERROR_COLUMN!r} column)" if self.errors else ""
        skipped = f", {self.shards_skipped} already done" if self.shards_skipped else ""
        uploaded = f"; uploaded: {self.hub_url}" if self.hub_url else ""
        return (
            f"{self.output_dir}: {self.rows:,} images in {self.shards_written} shards{skipped}{errors}; "
            f"{self.images_per_second:.1f} images/s on {self.processes} process{'es' if self.processes > 1 else ''}"
            f"{uploaded}"
        )


def colorize_dataset(
    source: str | os.PathLike,
    output_dir: str | os.PathLike,
    model: str | None = None,
    *,
    image_column: str = "image",
    split: str = "train",
    config_name: str | None = None,
    batch_size: int = 8,
    shard_size: int = DEFAULT_SHARD_SIZE,
    reference: Any = None,
    device: str | None = None,
    progress: bool = True,
    push_to_hub: bool = False,
    hub_dataset_id: str | None = None,
    hub_token: str | None = None,
    hub_private_repo: bool = False,
    pipe=None,
) -> DatasetColorization:
    """Colorize every image of ``source`` into a dataset in ``output_dir`` (module docstring: shards, restart, bad
    images); ``datasets.load_dataset(output_dir)`` reads it back.

    Args:
        source: an image folder, a folder saved with ``save_to_disk``, or a Hub dataset id (streamed; so is a local
            folder of data files, such as Parquet shards).
        output_dir: the output folder; a job run again into it does only the shards not yet complete.
        model: bundled model name, saved folder or Hub id (default: the bundled default model).
        image_column: the source's column of images (an image folder's images go in a column of this name).
        split, config_name: which split and configuration of a saved ``DatasetDict`` or a Hub dataset.
        batch_size: images colorized at once.
        shard_size: rows of the source per output shard (a streamed source keeps its own shards).
        reference: colour reference picture for exemplar models.
        device: ``"cpu"`` / ``"cuda"``; by default the device ``accelerate`` gives this process.
        progress: show a progress bar in images per second (one per process).
        push_to_hub, hub_dataset_id, hub_token, hub_private_repo: upload the output as the dataset repository
            ``hub_dataset_id`` when every shard is done.
        pipe: an already loaded pipeline of ``model`` (instead of loading it on ``device``).

    Under ``accelerate launch --num_processes P`` every process calls this; each colorizes its own shards, and the
    main process writes the card and uploads once all are done. The result counts the rows of all processes.

    Raises:
        DatasetColorizationError: the source or model cannot be read, the output folder holds shards made with other
            settings, or an argument is out of range.
        OutputWriteError: a shard cannot be written (names it and the problem).
    """
    from .pipeline import load_colorization_pipeline

    if batch_size < 1 or shard_size < 1:
        raise DatasetColorizationError(f"batch size and shard size must be at least 1, got {batch_size}, {shard_size}")
    if push_to_hub and not hub_dataset_id:
        raise DatasetColorizationError("pushing to the Hub needs a dataset id (ORG/NAME)")
    state = process_state(device)
    output_dir = Path(output_dir)
    data = open_source(source, image_column, split, config_name, shard_size)
    model_id = model or Path(DEFAULT_MODEL).name
    settings = {
        "source": str(Path(source).resolve()) if Path(source).exists() else str(source),
        "split": split,
        "config_name": config_name,
        "image_column": image_column,
        "model": model_id,
        "reference": None if reference is None else str(reference),
        "shard_size": data.shard_size,
        "shards": data.num_shards,
        "rows": data.num_rows,
    }
    check_settings(output_dir, settings)
    if pipe is None:
        try:
            pipe = load_colorization_pipeline(model, str(device or state.device))
        except ValueError as error:
            raise DatasetColorizationError(f"model {error}") from None
    call_options = model_request(pipe, reference)
    if state.is_main_process:
        write_settings(output_dir, settings)
    colorizer = BatchColorizer(pipe, image_column, model_id, call_options)
    start = time.perf_counter()
    own = range(state.process_index, data.num_shards, state.num_processes)
    pending = [index for index in own if not shard_path(output_dir, index, data.num_shards).is_file()]
    rows, errors = colorize_shards(data, pending, colorizer, batch_size, output_dir, progress, state)
    totals = gather_counts(state, [rows, errors, len(pending), len(own) - len(pending)])
    seconds = time.perf_counter() - start
    hub_url = None
    if state.is_main_process:
        write_card(output_dir, settings, hub_dataset_id)
        if push_to_hub:
            hub_url = upload(output_dir, hub_dataset_id, hub_token, hub_private_repo)
    state.wait_for_everyone()  # the job is done for every process once the card (and the upload) is
    return DatasetColorization(output_dir, *totals, seconds, state.num_processes, hub_url)


def process_state(device: str | None = None):
    """This process's ``accelerate.PartialState``: its rank among the processes of ``accelerate launch`` (one
    process without it) and its device. Without CUDA (or with ``device="cpu"``) the processes work on the CPU as one
    job over gloo; without saying so, accelerate would leave each of them a job of its own."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=device == "cpu" or (device is None and not torch.cuda.is_available()))


def model_request(pipe, reference: Any) -> dict:
    """The pipeline's call options: the reference picture, read once, for an exemplar model. A model that cannot
    colorize with what is given (an exemplar model without a reference, a reference for a model that takes none) or
    a reference that cannot be read is refused."""
    from .models import family_requirements

    model_type = pipe.model.config.model_type
    if reference is None and "reference" in family_requirements(model_type):
        raise DatasetColorizationError(f"the {model_type!r} model needs a reference picture")
    try:
        options, _ = pipe.check_options(reference=reference)
    except ValueError as error:
        raise DatasetColorizationError(str(error) if reference is None else f"reference {error}") from None
    return options


def colorized_rows(data: SourceDataset, index: int, colorizer: BatchColorizer, batch_size: int, bar) -> Iterator[dict]:
    """The output rows of shard ``index``, colorized ``batch_size`` at a time; ``bar`` counts the images."""
    for batch in batches(data.shard_rows(index), batch_size):
        yield from colorizer(batch)
        bar.update(len(batch))


def colorize_shards(
    data: SourceDataset,
    shards: list[int],
    colorizer: BatchColorizer,
    batch_size: int,
    output_dir: Path,
    progress: bool,
    state,
) -> tuple[int, int]:
    """Colorize and write ``shards`` one after the other, with a progress bar in images per second; returns the rows
    written and those with an error."""
    from tqdm.auto import tqdm

    total = None if data.streamed else sum(len(data.shard_range(index)) for index in shards)
    label = f"process {state.process_index}" if state.num_processes > 1 else "colorizing"
    rows = errors = 0
    with tqdm(total=total, unit="img", desc=label, position=state.local_process_index, disable=not progress) as bar:
        for index in shards:
            images = colorized_rows(data, index, colorizer, batch_size, bar)
            written, failed = write_shard(shard_path(output_dir, index, data.num_shards), images, data.features)
            rows, errors = rows + written, errors + failed
    return rows, errors


def gather_counts(state, counts: list[int]) -> list[int]:
    """``counts`` summed over the processes (every process must call it)."""
    if state.num_processes == 1:
        return counts
    from accelerate.utils import gather_object

    return [sum(column) for column in zip(*gather_object([counts]))]


CARD_TEMPLATE = """---
{{ card_data }}
---

# Colorized: {{ source }}

Every image of `{{ source }}` ({{ split }}) colorized by the image-colorization model `{{ model }}` with
hf_colorize (`hf-colorize dataset`): {{ shards }} Parquet shards under `data/`, each row the
source's row with its image colorized (PNG, the size of the original), the model's id in `model` and, for an image
that could not be colorized, no image and the file (or row) and the problem in `error`.

```python
from datasets import load_dataset

colorized = load_dataset("{{ repo_id }}", split="train")
usable = colorized.filter(lambda row: row["error"] is None)
```
"""
"""The output's dataset card (``README.md``), filled in with the job's settings."""


def write_card(output_dir: Path, settings: dict, repo_id: str | None = None) -> None:
    """``output_dir/README.md``: the card. Its metadata lists no data files: ``datasets`` and the Hub find the shards
    by their names (and ``datasets`` caches a local folder whose card lists them by the pattern alone, so a second
    output folder of the same name would be read from the first one's cache)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    card_data = DatasetCardData(tags=["image-colorization", "hf-colorize"])
    card = DatasetCard.from_template(
        card_data, template_str=CARD_TEMPLATE, repo_id=repo_id or str(output_dir), **settings
    )
    try:
        card.save(output_dir / "README.md")
    except OSError as error:
        raise cannot_write(output_dir / "README.md", error) from None


def upload(output_dir: Path, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Create the dataset repository ``repo_id`` if needed and upload the shards, the card and the settings; returns
    the commit's URL."""
    return upload_folder(
        output_dir,
        repo_id,
        "dataset",
        "Upload a dataset colorized with hf_colorize",
        token=token,
        private=private,
        allow_patterns=[f"{DATA_FOLDER}/{SPLIT}-*.parquet", "README.md", SETTINGS_FILE],
    )
