"""Models written by Keras 3 are rebuilt as tf-keras models with identical outputs."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.models import ModelLoadError, describe_model, load_model, open_model

KINDS = ["cnn", "branches", "rnn", "wrappers", "two_inputs", "lambda_model", "unsupported"]


@pytest.fixture(scope="module")
def k3_dir(tmp_path_factory):
    """Write the Keras 3 models once, in a process without TF_USE_LEGACY_KERAS."""
    out = tmp_path_factory.mktemp("keras3")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    maker = Path(__file__).with_name("keras3_maker.py")
    subprocess.run([sys.executable, str(maker), str(out), *KINDS], env=env, check=True, timeout=240,
                   capture_output=True)
    return out


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("kind", ["cnn", "branches", "rnn", "wrappers", "two_inputs"])
def test_rebuilt_model_matches_keras3_outputs(k3_dir, kind, fmt):
    loaded = load_model(k3_dir / f"{kind}.{fmt}")
    assert loaded.saved_with.startswith("keras 3.")
    assert isinstance(loaded.model, keras.Model)  # a tf-keras model the engine can prune
    io = np.load(k3_dir / f"{kind}_io.npz")
    x = io["x"]
    feed = [x, x[::-1].copy()] if len(loaded.model.inputs) == 2 else x  # as keras3_maker.py
    np.testing.assert_allclose(loaded.model(feed, training=False).numpy(), io["y"], atol=1e-5)
    assert loaded.compile_settings.loss == "sparse_categorical_crossentropy"
    assert loaded.compile_settings.metrics == ["accuracy"]


@pytest.mark.parametrize("kind", ["cnn", "branches", "rnn", "wrappers", "two_inputs"])
def test_keras3_file_is_described_from_its_config_as_the_rebuilt_model(k3_dir, kind):
    path = k3_dir / f"{kind}.keras"
    opened = open_model(path)
    quick = opened.describe()
    assert not opened.is_built
    assert quick.to_dict() == describe_model(opened.model, path).to_dict()


def test_rebuilt_nested_model_is_described(k3_dir):
    desc = describe_model(load_model(k3_dir / "branches.keras").model)
    inner = desc.find("inner")
    assert inner.type == "Sequential" and len(inner.children) == 2
    assert all(child.path.startswith("inner/") for child in inner.children)
    assert desc.find("logits").prunable


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_layer_without_tf_keras_equivalent_is_named(k3_dir, fmt):
    with pytest.raises(ModelLoadError, match=r"'rms_norm'.*RMSNormalization"):
        load_model(k3_dir / f"unsupported.{fmt}")


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_keras3_lambda_needs_trust_and_is_never_carried_over(k3_dir, fmt):
    with pytest.raises(ModelLoadError, match=r"'double' \(Lambda\).*trust"):
        load_model(k3_dir / f"lambda_model.{fmt}")
    with pytest.raises(ModelLoadError, match=r"'double' is a Lambda layer"):
        load_model(k3_dir / f"lambda_model.{fmt}", trust=True)


def test_keras3_file_naming_a_foreign_class_is_refused(k3_dir, tmp_path, monkeypatch):
    """A Keras 3 file whose model or layer names a class in an importable module imports nothing."""
    import json
    import zipfile

    name = "k3_evil_module"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nclass Boom: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with zipfile.ZipFile(k3_dir / "cnn.keras") as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    config.update(module=name, class_name="Boom", registered_name="Boom")
    config["config"]["layers"][1]["config"]["kernel_initializer"] = {
        "module": name, "class_name": "Init", "config": {}, "registered_name": None}
    files["config.json"] = json.dumps(config)
    with zipfile.ZipFile(tmp_path / "evil.keras", "w") as z:
        for member, data in files.items():
            z.writestr(member, data)
    with pytest.raises(ModelLoadError, match=rf"the model itself \(custom class Boom from module {name}\).*"
                                             rf"'conv1' \(custom class Init from module {name}\).*--custom-objects"):
        load_model(tmp_path / "evil.keras")
    assert not marker.exists() and name not in sys.modules
