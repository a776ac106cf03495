"""Copy a Keras model while replacing some of its layers.

Used to add pruning wrappers and to strip them. The copy never shares variables with the
original (so pruning a model leaves the original untouched), except for a layer that cannot be
rebuilt from its config (a custom layer without ``get_config``), which is reused as is.
Sequential and Functional models, nested models and shared layers are supported; subclassed
models cannot be cloned and are edited in place by :func:`edit_in_place`.
"""

from prune_studio.compat import keras


def is_clonable_model(model):
    """True for Sequential and Functional models (subclassed models are not)."""
    return isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False)


def subclassed_inside(model):
    """The subclassed models held as layers of the Sequential/Functional ``model`` (nested
    graph networks searched too), as a subclassed model opened from a file is held: one Input,
    then the model."""
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=False):
        if isinstance(layer, keras.Model) and is_clonable_model(layer):
            found.extend(subclassed_inside(layer))
        elif isinstance(layer, keras.Model):
            found.append(layer)
    return found


def is_revived(layer):
    """True for a model revived from a SavedModel without its Python class (tf-keras then makes
    a class of its own, whose call is the saved graph)."""
    return type(layer).__module__.startswith("tf_keras.")


def can_copy(layer):
    """Whether a subclassed ``layer`` can be rebuilt from its config with its own ``call()``:
    its class is the user's (not revived) and it has a config (its own ``get_config``, or one
    Keras makes from its constructor's arguments)."""
    from tf_keras.src.utils import generic_utils

    if is_revived(layer):
        return False
    # tf-keras makes a model's config from its constructor's arguments when they are plain
    # values (``_auto_get_config``); otherwise its default get_config returns {} and a copy
    # would lose them.
    return not generic_utils.is_default(layer.get_config) or bool(getattr(layer, "_auto_get_config", False))


def locked_in_subclassed(model) -> dict:
    """``{layer name: sentence}`` for the layers inside a subclassed model that sits in a
    Sequential/Functional model (as a subclassed model opened from a file is held: one Input,
    then the model) and cannot be pruned there.

    Such a model's layers are called from its Python ``call()``. When the model can be copied
    from its config, the copy's layers are wrapped where they are (its call then calls the
    wrappers); when it cannot (no config), cloning the outer model cannot copy it and wrapping
    it as one layer prunes nothing, so its layers are listed here.
    A built subclassed model opened on its own is pruned in place (see :func:`edit_in_place`).
    """
    if not is_clonable_model(model):
        return {}
    found = {}
    for layer in model._flatten_layers(include_self=False, recursive=False):
        if isinstance(layer, keras.Model) and is_clonable_model(layer):
            found.update(locked_in_subclassed(layer))
        elif isinstance(layer, keras.Model) and not can_copy(layer):
            kind = type(layer).__name__
            if is_revived(layer):
                reason = (f"It sits inside the subclassed model {kind} '{layer.name}', opened without its Python "
                          "class, so its layers cannot be rewired; open the file again with the Python file that "
                          f"defines {kind} as custom objects (--custom-objects FILE.py in the CLI) to prune them.")
            else:
                reason = (f"It sits inside the subclassed model {kind} '{layer.name}', whose layers are called from "
                          f"its call() method and which cannot be copied (it has no get_config()), so it cannot be "
                          f"pruned there; give {kind} a get_config(), or rebuild the model as a Functional or "
                          "Sequential model (keras.Model(inputs, outputs)), copy the weights over and save that.")
            for inner in layer._flatten_layers(include_self=False, recursive=True):
                if not isinstance(inner, keras.Model):
                    found[inner.name] = reason
    return found


def fresh_copy(layer):
    """A new, unbuilt layer with ``layer``'s config, or ``layer`` itself if that fails."""
    try:
        return type(layer).from_config(layer.get_config())
    except Exception:  # noqa: BLE001 -- any custom layer may fail; reusing it is the fallback
        return layer


def clone(model, replace):
    """Clone ``model``; ``replace(layer)`` returns ``(new_layer, load)`` or None.

    ``new_layer`` takes ``layer``'s place and ``load`` (a callable, or None) runs once the copy
    is built, to fill its weights. ``None`` copies the layer with its weights unchanged.
    """
    loads = []

    def clone_fn(layer):
        if isinstance(layer, keras.Model) and is_clonable_model(layer):
            return clone(layer, replace)
        result = replace(layer)
        if result is None:
            new = fresh_copy(layer)
            if new is not layer:
                loads.append(lambda: new.set_weights(layer.get_weights()))
            return new
        new, load = result
        if load is not None:
            loads.append(load)
        return new

    copy = keras.models.clone_model(model, clone_function=clone_fn)
    for load in loads:
        load()
    return copy


def edit_in_place(model, replace):
    """Replace layers held as attributes (or in lists) of a subclassed ``model``, recursively.

    ``replace(layer)`` returns the new layer or None to keep it (and look inside it).
    """
    for owner in _owners(model):
        for name, value in list(vars(owner).items()):
            if name.startswith("_self_") or name in ("_layer_call_argspecs", "_obj_reference_counts_dict"):
                continue
            if isinstance(value, keras.layers.Layer):
                new = replace(value)
                if new is not None:
                    setattr(owner, name, new)
            elif isinstance(value, list) or type(value).__name__ == "ListWrapper":
                for i, item in enumerate(list(value)):
                    if isinstance(item, keras.layers.Layer):
                        new = replace(item)
                        if new is not None:
                            value[i] = new
    model.train_function = model.test_function = model.predict_function = None


def layers_by_attribute(model, unwrap=lambda layer: layer):
    """``{attribute path: layer}`` for the layers a subclassed ``model`` holds as attributes (or
    in lists), through its custom layers; ``unwrap`` maps a held layer to the one to report.

    Two models made by the same constructor have the same paths, whatever their layers' names.
    """
    found = {}

    def visit(owner, prefix, depth):
        for name, value in list(vars(owner).items()):
            if name.startswith("_self_") or name in ("_layer_call_argspecs", "_obj_reference_counts_dict"):
                continue
            items = [(name, value)]
            if isinstance(value, list) or type(value).__name__ == "ListWrapper":
                items = [(f"{name}[{i}]", item) for i, item in enumerate(list(value))]
            for path, item in items:
                if isinstance(item, keras.layers.Layer):
                    layer = unwrap(item)
                    found[prefix + path] = layer
                    if depth < 8 and not type(layer).__module__.startswith("tf_keras."):
                        visit(layer, f"{prefix}{path}.", depth + 1)

    visit(model, "", 0)
    return found


def is_container(layer):
    """True for a custom layer made of other layers with no weights of its own (visited inside)."""
    if type(layer).__module__.startswith("tf_keras.") or isinstance(layer, keras.Model):
        return False
    own = layer._trainable_weights + layer._non_trainable_weights
    return not own and bool(layer._flatten_layers(include_self=False, recursive=False))


def _owners(model):
    """``model`` and every custom (non built-in) layer nested in it, outermost first."""
    seen, order, stack = set(), [], [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        order.append(layer)
        for child in layer._flatten_layers(include_self=False, recursive=False):
            if not type(child).__module__.startswith("tf_keras."):
                stack.append(child)
    return order
