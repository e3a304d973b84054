"""The trained models shipped with the package, by variant name, and the default one.

A module of its own, imported at the top of the package's ``__init__``, the pipeline and the dataset colorizer
alike, so none of them reaches back into the package's ``__init__`` for it.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS = Path(__file__).parent / "weights"
"""The folder of the bundled models, one sub-folder per variant."""

BUNDLED_MODELS = {folder.name: str(folder) for folder in sorted(WEIGHTS.iterdir()) if folder.is_dir()}
"""The trained models shipped with the package (fp16 safetensors), by variant name: their folders, which
``from_pretrained`` and ``pipeline(model=...)`` load; the CLI's ``--model`` also takes the names."""

DEFAULT_MODEL = BUNDLED_MODELS["dlsa-tiny"]
"""The bundled default model: a dlsa-tiny trained on the corpus (point hints, or none)."""
