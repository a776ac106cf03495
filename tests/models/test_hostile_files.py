"""Crafted model files that name classes outside Keras never import or construct them.

Each test writes a real file whose config points at a module in ``tmp_path`` (on ``sys.path``)
that writes a marker file as soon as it is imported, then checks that opening the file without
trust refuses it with one sentence, writes no marker and leaves the module unimported. The
trusted control shows tf-keras itself would import that module, so each test can fail.
"""

import json
import sys
import uuid
import zipfile

import h5py
import pytest

from prune_studio.compat import keras
from prune_studio.models import ModelLoadError, load_model

EVIL_SOURCE = """
open({marker!r}, "w").write("imported")


class Boom:
    def __init__(self, *args, **kwargs):
        open({marker!r}, "w").write("constructed")

    @classmethod
    def from_config(cls, config):
        return cls(**config)
"""


@pytest.fixture
def evil(tmp_path, monkeypatch):
    """An importable module on sys.path that writes ``marker`` when imported; (name, marker)."""
    name = f"evil_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / f"{name}.marker"
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / f"{name}.py").write_text(EVIL_SOURCE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(folder))
    yield name, marker
    sys.modules.pop(name, None)


def _ref(module, class_name="Boom", config=None):
    return {"module": module, "class_name": class_name, "config": config or {}, "registered_name": None}


def _functional():
    inp = keras.Input((4,), name="inp")
    x = keras.layers.Dense(3, name="d")(inp)
    model = keras.Model(inp, keras.layers.Dense(2, name="out")(x), name="plain")
    model.compile("adam", "mse", metrics=["mae"])
    return model


def _rewrite_keras(src, dst, edit):
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    edit(config)
    files["config.json"] = json.dumps(config)
    with zipfile.ZipFile(dst, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return dst


def _keras_file(tmp_path, edit):
    _functional().save(tmp_path / "plain.keras")
    return _rewrite_keras(tmp_path / "plain.keras", tmp_path / "hostile.keras", edit)


def _assert_refused(path, evil, *patterns):
    name, marker = evil
    with pytest.raises(ModelLoadError) as err:
        load_model(path)
    message = str(err.value)
    assert "--custom-objects FILE.py" in message and "--trust" in message
    for pattern in patterns:
        assert pattern in message, message
    assert len(message.splitlines()) == 1
    assert not marker.exists()
    assert name not in sys.modules
    return message


def test_top_level_class_in_an_importable_module(tmp_path, evil):
    def edit(config):
        config.update(module=evil[0], class_name="Boom", registered_name="Boom")

    path = _keras_file(tmp_path, edit)
    _assert_refused(path, evil, f"the model itself (custom class Boom from module {evil[0]})")
    # the control: trusted, tf-keras imports the module the file names
    with pytest.raises(ModelLoadError):
        load_model(path, trust=True)
    assert evil[1].exists()


def test_top_level_popen(tmp_path, evil):
    marker = tmp_path / "popen.marker"

    def edit(config):
        config.update(module="subprocess", class_name="Popen", registered_name=None,
                      config={"args": ["touch", str(marker)]})

    _assert_refused(_keras_file(tmp_path, edit), evil, "custom class Popen from module subprocess")
    assert not marker.exists()


def test_nested_initializer(tmp_path, evil):
    def edit(config):
        config["config"]["layers"][1]["config"]["kernel_initializer"] = _ref(evil[0])

    _assert_refused(_keras_file(tmp_path, edit), evil, "'d' (custom class Boom")


def test_compile_config_optimizer_and_loss(tmp_path, evil):
    def edit(config):
        config["compile_config"]["optimizer"] = _ref(evil[0])
        config["compile_config"]["loss"] = _ref(evil[0], "Loss")

    _assert_refused(_keras_file(tmp_path, edit), evil, "custom class Boom", "custom class Loss")


def test_nested_model_and_wrapped_cell(tmp_path, evil):
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)], name="inner")
    inp = keras.Input((5, 2))
    x = keras.layers.Bidirectional(keras.layers.LSTM(3), name="bi")(inp)
    keras.Model(inp, inner(x)).save(tmp_path / "nested.keras")

    def edit(config):
        layers = {layer["config"]["name"]: layer for layer in config["config"]["layers"]}
        layers["inner"].update(module=evil[0], class_name="Boom")
        layers["bi"]["config"]["layer"]["config"]["recurrent_initializer"] = _ref(evil[0], "Cell")

    path = _rewrite_keras(tmp_path / "nested.keras", tmp_path / "hostile.keras", edit)
    _assert_refused(path, evil, "'inner' (custom class Boom", "custom class Cell")


def test_activation_function_outside_keras(tmp_path, evil):
    def edit(config):
        config["config"]["layers"][1]["config"]["activation"] = {
            "module": "builtins", "class_name": "function", "config": "eval", "registered_name": "function"}
        config["config"]["layers"][2]["config"]["activation"] = {
            "module": evil[0], "class_name": "function", "config": "boom", "registered_name": "function"}

    _assert_refused(_keras_file(tmp_path, edit), evil, "the function builtins.eval", f"the function {evil[0]}.boom")


def test_builtin_name_with_a_foreign_registered_name(tmp_path, evil):
    def edit(config):
        config["config"]["layers"][1]["registered_name"] = "evil>Boom"

    _assert_refused(_keras_file(tmp_path, edit), evil, "'d' (custom class evil>Boom)")


def test_malformed_class_name_with_a_module(tmp_path, evil):
    """tf-keras imports ``module`` before it notices the class name is not a string."""
    def edit(config):
        config["config"]["layers"][1]["config"]["kernel_initializer"] = {
            "module": evil[0], "class_name": ["Boom"], "config": {}}

    _assert_refused(_keras_file(tmp_path, edit), evil, "'d' (a malformed class reference")


def test_tensorflow_op_with_side_effects(tmp_path, evil):
    inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Dense(2)(inp) + 1.0).save(tmp_path / "op.keras")

    def edit(config):
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "TFOpLambda":
                layer["config"]["function"] = "io.write_file"

    path = _rewrite_keras(tmp_path / "op.keras", tmp_path / "hostile.keras", edit)
    _assert_refused(path, evil, "'io.write_file', which has side effects")


def test_h5_model_and_training_config(tmp_path, evil):
    _functional().save(tmp_path / "plain.h5")
    with h5py.File(tmp_path / "plain.h5", "r+") as f:
        model_config = json.loads(f.attrs["model_config"])
        training = json.loads(f.attrs["training_config"])
        model_config["config"]["layers"][1]["config"]["bias_initializer"] = _ref(evil[0])
        training["optimizer_config"] = _ref(evil[0], "Opt")
        f.attrs["model_config"] = json.dumps(model_config)
        f.attrs["training_config"] = json.dumps(training)
    _assert_refused(tmp_path / "plain.h5", evil, "'d' (custom class Boom", "the training config (custom class Opt")


def test_h5_top_level(tmp_path, evil):
    _functional().save(tmp_path / "plain.h5")
    with h5py.File(tmp_path / "plain.h5", "r+") as f:
        model_config = json.loads(f.attrs["model_config"])
        model_config.update(module=evil[0], class_name="Boom")
        f.attrs["model_config"] = json.dumps(model_config)
    _assert_refused(tmp_path / "plain.h5", evil, "the model itself (custom class Boom")


def test_savedmodel_metadata(tmp_path, evil):
    from tf_keras.protobuf import saved_metadata_pb2

    folder = tmp_path / "sm"
    _functional().save(str(folder), save_format="tf")
    metadata = saved_metadata_pb2.SavedMetadata()
    metadata.ParseFromString((folder / "keras_metadata.pb").read_bytes())
    for node in metadata.nodes:
        data = json.loads(node.metadata)
        if data.get("name") == "d":
            data["config"]["kernel_initializer"] = _ref(evil[0])
            node.metadata = json.dumps(data)
    (folder / "keras_metadata.pb").write_bytes(metadata.SerializeToString())
    _assert_refused(folder, evil, "SavedModel folder 'sm'", "'d' (custom class Boom")


@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel"])
def test_builtin_models_open_without_trust(tmp_path, fmt):
    """Real architectures with regularizers, constraints, schedules and metrics are not refused."""
    mobilenet = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=3)
    mobilenet.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    inp = keras.Input((4,))
    x = keras.layers.Dense(3, activation="relu", kernel_regularizer="l2",
                           kernel_constraint=keras.constraints.MaxNorm(2))(inp)
    x = keras.layers.Bidirectional(keras.layers.LSTM(2))(keras.layers.Reshape((3, 1))(x))
    mixed = keras.Model(inp, keras.layers.Activation("softmax")(x + 1.0))
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    mixed.compile(keras.optimizers.Adam(schedule), "mse", metrics=[keras.metrics.AUC()])
    # saving MobileNetV2 as a SavedModel takes minutes; its metadata is covered by the .keras/.h5 names
    models = (("mixed", mixed),) if fmt == "savedmodel" else (("mobilenet", mobilenet), ("mixed", mixed))
    for name, model in models:
        target = tmp_path / (name if fmt == "savedmodel" else f"{name}.{fmt}")
        model.save(str(target), **({"save_format": "tf"} if fmt == "savedmodel" else {}))
        loaded = load_model(target)
        assert loaded.model.count_params() == model.count_params()
