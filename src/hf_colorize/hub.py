"""Uploading a folder to the Hugging Face Hub: a trained model (:mod:`hf_colorize.training.hub`) or a colorized
dataset (:mod:`hf_colorize.dataset_colorization`)."""

from __future__ import annotations

from pathlib import Path


def upload_folder(
    folder: str | Path,
    repo_id: str,
    repo_type: str,
    commit_message: str,
    token: str | None = None,
    private: bool = False,
    **patterns: list[str],
) -> str:
    """Create the ``repo_type`` repository ``repo_id`` if needed and upload ``folder`` into it, filtered by
    ``allow_patterns`` / ``ignore_patterns`` as ``HfApi.upload_folder`` takes them; returns the commit's URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id, repo_type=repo_type, folder_path=str(folder), commit_message=commit_message, **patterns
    )
    return str(getattr(commit, "commit_url", commit))
