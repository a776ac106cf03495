"""Data sources (digits, npz, CSV, image folders, keras.datasets) and checks against a model.

Importing this package does not import TensorFlow; streaming and model checks do, when used.
"""

from prune_studio.data.checks import FIXES, DataIssue, apply_fix, check_data
from prune_studio.data.dataset import DATA_KINDS, DataError, DataSpec, Dataset
from prune_studio.data.sources import load_data

__all__ = [
    "DATA_KINDS",
    "FIXES",
    "DataError",
    "DataIssue",
    "DataSpec",
    "Dataset",
    "apply_fix",
    "check_data",
    "load_data",
]
