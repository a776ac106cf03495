"""Open a tf-keras ``.keras`` archive fast: weights read from a plain file, not through the zip.

``tf_keras.models.load_model`` hands h5py a file object inside the zip archive (itself read
through TensorFlow's GFile). h5py seeks back and forth, and every backward seek in a zip member
re-reads it from the start: a 95 MB ResNet50 file spent ~45 of 60 s in ``zipfile`` seeks. Here
the weights member is copied once, sequentially, to a temporary file, the model is rebuilt from
the (already scanned) config with tf-keras's own deserialiser, and ``load_weights`` reads the
copy. Archives with assets (vocabularies of lookup layers) go through tf-keras's own loader.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

_WEIGHTS = "model.weights.h5"
_PLAIN_MEMBERS = {"config.json", "metadata.json", _WEIGHTS}
_CHUNK = 1 << 22


def has_only_weights(path: Path) -> bool:
    """Whether the archive holds just config, metadata and weights (no assets)."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    return _WEIGHTS in names and names <= _PLAIN_MEMBERS


def load_keras_archive(path: Path, model_config: dict, custom: dict, trust: bool):
    """The model of a tf-keras ``.keras`` file, uncompiled (``compile_config`` ignored).

    Args:
        path: The archive.
        model_config: Its ``config.json`` (already scanned for code by the caller).
        custom: User-registered classes.
        trust: Allow Lambda bytecode.
    """
    from prune_studio.compat import keras
    from tf_keras.src.saving import serialization_lib

    if not has_only_weights(path):
        with serialization_lib.SafeModeScope(not trust):
            return keras.models.load_model(str(path), custom_objects=custom, compile=False, safe_mode=not trust)
    config = {**model_config, "compile_config": None}
    with tempfile.TemporaryDirectory(prefix="prune-studio-open-") as tmp:
        weights = Path(tmp) / _WEIGHTS
        with zipfile.ZipFile(path) as archive, archive.open(_WEIGHTS) as src, open(weights, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        with serialization_lib.ObjectSharingScope(), serialization_lib.SafeModeScope(not trust):
            model = serialization_lib.deserialize_keras_object(config, custom_objects=custom, safe_mode=not trust)
        model.load_weights(str(weights))
    return model
