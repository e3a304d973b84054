"""Split an image folder into a training folder and a held-out validation folder (copies, originals untouched).

    python examples/holdout_split.py examples/pictures/photos photos-split [--every 7] [--offset 3]

Of the folder's image files in name order, every ``--every``-th one from index ``--offset`` goes to
``OUTPUT/validation``, the rest to ``OUTPUT/train``. The bundled ``smsanet-small`` was trained on the ``train`` half
of ``photos/train`` split with the defaults (31 of 218 held out) and its checkpoint picked on the other half; pass
``--train_data_dir OUTPUT/train`` and ``--validation_images OUTPUT/validation`` to ``examples/train.py``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from hf_colorize.images import IMAGE_EXTENSIONS


def holdout_split(source: Path, output: Path, every: int, offset: int) -> tuple[int, int]:
    """Copy ``source``'s images into ``output/train`` and ``output/validation``; returns the two counts."""
    if not source.is_dir():
        raise SystemExit(f"{source}: not a folder")
    if every < 2:
        raise SystemExit(f"--every must be at least 2, got {every}")
    if not 0 <= offset < every:
        raise SystemExit(f"--offset must be in [0, {every}), got {offset}")
    images = sorted(path for path in source.iterdir() if path.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise SystemExit(f"{source}: no image files")
    held_out = set(images[offset::every])
    for path in images:
        folder = output / ("validation" if path in held_out else "train")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, folder / path.name)
    return len(images) - len(held_out), len(held_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="image folder to split")
    parser.add_argument("output", type=Path, help="gets train/ and validation/")
    parser.add_argument("--every", type=int, default=7, help="hold out one image in this many")
    parser.add_argument("--offset", type=int, default=3, help="index of the first held-out image")
    args = parser.parse_args()
    train, validation = holdout_split(args.source, args.output, args.every, args.offset)
    print(f"{args.output}: {train} training and {validation} validation images")


if __name__ == "__main__":
    main()
