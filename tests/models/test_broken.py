"""Every kind of bad input gives one ModelLoadError naming the file and the problem."""

import json
import os
import shutil
import zipfile

import pytest

from prune_studio.compat import keras, tf
from prune_studio.models import ModelLoadError, load_model


def _tiny():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="tiny")


def _random_keras(d):
    (d / "noise.keras").write_bytes(os.urandom(4096))
    return d / "noise.keras", "neither a .keras zip archive nor an HDF5 file"


def _random_h5(d):
    (d / "noise.h5").write_bytes(os.urandom(4096))
    return d / "noise.h5", "neither a .keras zip archive nor an HDF5 file"


def _truncated_keras(d):
    _tiny().save(d / "full.keras")
    data = (d / "full.keras").read_bytes()
    (d / "cut.keras").write_bytes(data[: len(data) // 2])
    return d / "cut.keras", "damaged or incomplete"


def _truncated_h5(d):
    _tiny().save(d / "full.h5")
    data = (d / "full.h5").read_bytes()
    (d / "cut.h5").write_bytes(data[: len(data) // 3])
    return d / "cut.h5", "damaged or incomplete"


def _empty(d):
    (d / "empty.keras").write_bytes(b"")
    return d / "empty.keras", "is empty"


def _wrong_extension(d):
    _tiny().save(d / "model.keras")
    shutil.copy(d / "model.keras", d / "model.txt")
    return d / "model.txt", "extension '.txt'"


def _weights_only(d):
    _tiny().save_weights(str(d / "weights.h5"))
    return d / "weights.h5", "holds only weights"


def _plain_folder(d):
    (d / "photos").mkdir()
    (d / "photos" / "a.txt").write_text("x")
    return d / "photos", "is not a SavedModel"


def _missing(d):
    return d / "nowhere.keras", "does not exist"


def _no_input_shape(d):
    keras.Sequential([keras.layers.Dense(2)], name="unbuilt").save(d / "unbuilt.keras")
    return d / "unbuilt.keras", "no defined input shape"


def _not_keras_savedmodel(d):
    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, str(d / "raw"))
    return d / "raw", "not saved by Keras"


def _zip_without_config(d):
    with zipfile.ZipFile(d / "other.keras", "w") as z:
        z.writestr("readme.txt", "hello")
    return d / "other.keras", "without a config.json"


def _broken_graph(d):
    inp = keras.Input((3,), name="x")
    model = keras.Model(inp, keras.layers.Dense(2, name="d")(inp))
    model.save(d / "good.keras")
    with zipfile.ZipFile(d / "good.keras") as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    dense = next(l for l in config["config"]["layers"] if l["class_name"] == "Dense")
    dense["inbound_nodes"] = [[["ghost", 0, 0, {}]]]
    files["config.json"] = json.dumps(config)
    with zipfile.ZipFile(d / "graph.keras", "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return d / "graph.keras", "unknown layer 'ghost'"


CASES = [
    _random_keras, _random_h5, _truncated_keras, _truncated_h5, _empty, _wrong_extension,
    _weights_only, _plain_folder, _missing, _no_input_shape, _not_keras_savedmodel,
    _zip_without_config, _broken_graph,
]


@pytest.mark.parametrize("make", CASES, ids=[c.__name__.strip("_") for c in CASES])
def test_bad_input_is_one_clear_error(tmp_path, make):
    path, expected = make(tmp_path)
    with pytest.raises(ModelLoadError) as err:
        load_model(path)
    message = str(err.value)
    assert path.name in message
    assert expected in message
    assert "\n" not in message and message.endswith(".")
