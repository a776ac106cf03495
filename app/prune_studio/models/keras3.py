"""Rebuild a model saved by Keras 3 as an equivalent tf-keras model, without running its code."""

from __future__ import annotations

from pathlib import Path


def rebuild(path: Path, fmt: str, model_config: dict, custom: dict, trust: bool):
    """Build the tf-keras twin of a Keras 3 model and copy its weights."""
    from prune_studio.models.loading import ModelLoadError

    raise ModelLoadError(f"Model file '{path.name}' was saved by Keras 3, which is not supported yet.")
