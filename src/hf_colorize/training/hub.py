"""Publishing a trained model folder to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path

from ..hub import upload_folder

NOT_UPLOADED = ["checkpoint-*", ".tmp-checkpoint-*", "logs/*", "validation/*"]
"""Training leftovers in ``output_dir`` that are not part of the published model."""


def push_to_hub(output_dir: str | Path, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Create ``repo_id`` if needed and upload the model, processor and card in ``output_dir``; returns the URL."""
    return upload_folder(
        output_dir,
        repo_id,
        "model",
        "Upload model trained with hf_colorize",
        token=token,
        private=private,
        ignore_patterns=NOT_UPLOADED,
    )
