"""Publishing a trained model folder to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi

NOT_UPLOADED = ["checkpoint-*", ".tmp-checkpoint-*", "logs/*", "validation/*"]
"""Training leftovers in ``output_dir`` that are not part of the published model."""


def push_to_hub(output_dir: str | Path, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Create ``repo_id`` if needed and upload the model, processor and card in ``output_dir``; returns the URL."""
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type="model",
        folder_path=str(output_dir),
        ignore_patterns=NOT_UPLOADED,
        commit_message="Upload model trained with hf_colorize",
    )
    return str(getattr(commit, "commit_url", commit))
