"""Open a Keras SavedModel folder: scan its metadata, then rebuild it as cheaply as possible.

Every node of ``keras_metadata.pb`` is scanned for code first (see ``config_scan``). A graph
network (Sequential/Functional) is rebuilt from its config and its variables are read from the
checkpoint; other models (subclassed ones) go through tf-keras's loader and, when built, get
Input layers from their saved call signature.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from prune_studio.models.config_scan import scan_config
from prune_studio.models.subclassed_inputs import with_inputs


def short_error(exc: BaseException) -> str:
    """The first line of an exception's text, at most 300 characters, without a final period."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300].rstrip(".")


@dataclass
class SavedModelPlan:
    """A scanned SavedModel folder, not loaded yet.

    Attributes:
        build: Call to load the model (raises ModelLoadError).
        training: The saved training config, or None.
        config: The tf-keras config of a Sequential/Functional model (for describing it without
            loading), or None.
    """

    build: Callable
    training: dict | None
    config: dict | None


def open_savedmodel(path: Path, trust: bool, custom: dict) -> SavedModelPlan:
    """Scan every node of a Keras SavedModel folder's metadata; load nothing yet.

    Raises:
        ModelLoadError: not a Keras SavedModel, damaged metadata, code without trust, or a
            folder tf-keras cannot load.
    """
    from prune_studio.compat import keras
    from prune_studio.models.loading import ModelLoadError, refusal
    from tf_keras.protobuf import saved_metadata_pb2

    if not (path / "saved_model.pb").is_file() and not (path / "saved_model.pbtxt").is_file():
        raise ModelLoadError(
            f"Folder '{path.name}' is not a SavedModel (it has no saved_model.pb); "
            "open a .keras or .h5 file or a SavedModel folder."
        )
    metadata_file = path / "keras_metadata.pb"
    if not metadata_file.is_file():
        raise ModelLoadError(
            f"SavedModel folder '{path.name}' was not saved by Keras (no keras_metadata.pb), "
            "so its layers cannot be edited; open the Keras model it was exported from."
        )
    metadata = saved_metadata_pb2.SavedMetadata()
    try:
        metadata.ParseFromString(metadata_file.read_bytes())
        nodes = [json.loads(node.metadata) for node in metadata.nodes]
    except Exception:  # protobuf's DecodeError and JSON errors
        raise ModelLoadError(f"SavedModel folder '{path.name}' has damaged Keras metadata.") from None
    findings = []
    for node in [] if trust else nodes:
        findings += scan_config(node, set(custom), where=f"'{node.get('name', '?')}'")
    if findings:
        raise ModelLoadError(refusal(f"SavedModel folder '{path.name}'", list(dict.fromkeys(findings))))
    root = nodes[0] if nodes else {}

    def build():
        model = _rebuild_from_config(path, root, custom)
        if model is None:
            try:
                model = keras.models.load_model(str(path), custom_objects=custom, compile=False)
            except Exception as exc:  # tf-keras raises many types for a bad folder
                raise ModelLoadError(
                    f"SavedModel folder '{path.name}' could not be loaded: {short_error(exc)}."
                ) from None
        return with_inputs(model)

    return SavedModelPlan(build, root.get("training_config"), _graph_config(root))


def _network_config(root: dict) -> dict | None:
    """The root node's stored config when it is a Sequential/Functional graph network, else None."""
    config = root.get("model_config")
    if not root.get("is_graph_network") or not isinstance(config, dict):
        return None
    return config if config.get("class_name") in ("Sequential", "Functional", "Model") else None


def _graph_config(root: dict) -> dict | None:
    """The decoded Sequential/Functional config of a graph network's root node, else None."""
    from tf_keras.src.saving.legacy.saved_model import json_utils

    config = _network_config(root)
    if config is None:
        return None
    try:
        return json_utils.decode(json.dumps(config))
    except Exception:  # noqa: BLE001 - an odd encoding: describe the loaded model instead
        return None


def _rebuild_from_config(path: Path, root: dict, custom: dict):
    """A Sequential/Functional model rebuilt from its (scanned) config with the checkpoint's
    weights, or ``None`` when that does not fit exactly (then tf-keras's loader is used).

    tf-keras's SavedModel loader first turns every traced function of every layer back into a
    graph (629 functions for MobileNetV2: ~48 of 68 s here) and then rebuilds the layers from
    their configs anyway; for a graph network the config and the variables are all it needs.
    """
    from prune_studio.compat import keras

    config = _network_config(root)
    if config is None:
        return None
    try:
        # from JSON, so tf-keras decodes the {"class_name": "__tuple__"} shapes SavedModel stores
        model = keras.models.model_from_json(json.dumps(config), custom_objects=custom)
        status = model.load_weights(str(path / "variables" / "variables"))
        status.expect_partial()  # the optimizer's slots are not restored
        status.assert_existing_objects_matched()
    except Exception:  # noqa: BLE001 - any mismatch falls back to the full loader
        return None
    return model
