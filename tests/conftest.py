"""Shared test set-up: headless Qt, tf-keras, small real data."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Caches (scan results, recent files) go to a fresh folder: a test never reads what an
# earlier run, or the developer's own use of the app, left behind.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="prune-studio-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import prune_studio.compat  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before any TF import)
from prune_studio.resources import demo_model_path, digits_path  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    """The built-in digits sample as a dict of numpy arrays."""
    with np.load(digits_path()) as d:
        return {k: d[k] for k in d.files}


@pytest.fixture(scope="session")
def demo_model_file():
    return demo_model_path()


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory, digits):
    """A 256-train / 64-test slice of the digits sample as an .npz file."""
    path = tmp_path_factory.mktemp("data") / "tiny_digits.npz"
    np.savez(path, x_train=digits["x_train"][:256], y_train=digits["y_train"][:256],
             x_test=digits["x_test"][:64], y_test=digits["y_test"][:64])
    return path


@pytest.fixture(scope="session")
def digits_dataset():
    """The built-in digits sample loaded through prune_studio.data, as the app loads it."""
    from prune_studio.data import DataSpec, load_data

    return load_data(DataSpec(kind="digits"))
