"""Open model files safely, describe them, and pick their compile settings.

Importing this package does not import TensorFlow; the functions do, when called.
"""

from prune_studio.models.compile_settings import CompileSettings, infer_compile_settings
from prune_studio.models.describe import (
    LayerInfo,
    ModelDescription,
    WeightInfo,
    describe_model,
)
from prune_studio.models.loading import LoadedModel, ModelLoadError, load_model, open_model

__all__ = [
    "CompileSettings",
    "LayerInfo",
    "LoadedModel",
    "ModelDescription",
    "ModelLoadError",
    "WeightInfo",
    "describe_model",
    "infer_compile_settings",
    "load_model",
    "open_model",
]
