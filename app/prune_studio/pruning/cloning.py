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


def locked_in_subclassed(model) -> dict:
    """``{layer name: sentence}`` for the layers inside a subclassed model that sits in a
    Sequential/Functional model (as a subclassed SavedModel is revived: one Input, then the
    model), which cannot be pruned there.

    Such a model's layers are called from its Python ``call()``: cloning the outer model cannot
    copy it (tf-keras raises NotImplementedError) and wrapping it as one layer prunes nothing.
    A built subclassed model opened on its own is pruned in place (see :func:`edit_in_place`).
    """
    if not is_clonable_model(model):
        return {}
    found = {}
    for layer in model._flatten_layers(include_self=False, recursive=False):
        if isinstance(layer, keras.Model) and is_clonable_model(layer):
            found.update(locked_in_subclassed(layer))
        elif isinstance(layer, keras.Model):
            kind = type(layer).__name__
            reason = (f"It sits inside the subclassed model {kind} '{layer.name}', whose layers are called from "
                      "Python code (its call() method) that Prune Studio cannot rewire, so it cannot be pruned "
                      "there; rebuild the model as a Functional or Sequential model "
                      "(keras.Model(inputs, outputs)), copy the weights over and save that as .keras.")
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
