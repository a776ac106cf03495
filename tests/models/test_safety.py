"""Code in a model file never runs without trust; user-chosen custom classes load."""

import json
import textwrap
import zipfile

import pytest

from prune_studio.compat import keras
from prune_studio.models import ModelLoadError, load_model
from prune_studio.models.safety import load_custom_objects


def _marker_model(marker):
    """A model whose Lambda writes ``marker`` whenever it is called (as on load)."""
    path = str(marker)

    def touch(t):
        with open(path, "w") as f:
            f.write("ran")
        return t

    return keras.Sequential([keras.Input((3,)), keras.layers.Lambda(touch, name="sneaky"), keras.layers.Dense(2)])


@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel"])
def test_lambda_does_not_run_without_trust(tmp_path, fmt):
    marker = tmp_path / "marker.txt"
    model = _marker_model(marker)
    target = tmp_path / ("m" if fmt == "savedmodel" else f"m.{fmt}")
    model.save(str(target), **({"save_format": "tf"} if fmt == "savedmodel" else {}))
    marker.unlink()
    with pytest.raises(ModelLoadError) as err:
        load_model(target)
    message = str(err.value)
    assert "'sneaky' (Lambda)" in message and "trust" in message
    assert not marker.exists()
    if fmt != "savedmodel":  # a SavedModel replays a traced graph, not the Python code
        load_model(target, trust=True)
        assert marker.exists()


CUSTOM = """
from prune_studio.compat import keras


class Doubler(keras.layers.Layer):
    def call(self, inputs):
        return inputs * 2
"""


def test_custom_class_refused_then_registered_from_file(tmp_path):
    source = tmp_path / "my_layers.py"
    source.write_text(textwrap.dedent(CUSTOM))
    doubler = load_custom_objects(source)["Doubler"]
    model = keras.Sequential([keras.Input((3,)), doubler(name="twice"), keras.layers.Dense(2)])
    model.save(tmp_path / "custom.keras")
    with pytest.raises(ModelLoadError, match=r"'twice' \(custom class Doubler from module"):
        load_model(tmp_path / "custom.keras")
    loaded = load_model(tmp_path / "custom.keras", custom_objects_file=source)
    assert type(loaded.model.layers[0]).__name__ == "Doubler"


def test_bad_custom_objects_file(tmp_path, demo_model_file):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('nope')\n")
    with pytest.raises(ModelLoadError, match="broken.py.*failed to import"):
        load_model(demo_model_file, custom_objects_file=broken)
    with pytest.raises(ModelLoadError, match="not an existing .py file"):
        load_model(demo_model_file, custom_objects_file=tmp_path / "absent.py")


def test_config_naming_a_foreign_module_is_refused(tmp_path):
    """tf-keras would import the named module and call the class with the saved config."""
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")]).save(tmp_path / "ok.keras")
    with zipfile.ZipFile(tmp_path / "ok.keras") as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    marker = tmp_path / "popen_marker"
    dense = config["config"]["layers"][-1]
    dense["config"]["kernel_initializer"] = {
        "module": "subprocess", "class_name": "Popen", "config": {"args": ["touch", str(marker)]}, "registered_name": None,
    }
    files["config.json"] = json.dumps(config)
    with zipfile.ZipFile(tmp_path / "evil.keras", "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    with pytest.raises(ModelLoadError, match=r"'d' \(custom class Popen from module subprocess\)"):
        load_model(tmp_path / "evil.keras")
    assert not marker.exists()
