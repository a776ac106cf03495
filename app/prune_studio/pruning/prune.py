"""Entry points: ``prune_low_magnitude``, ``strip_pruning``, ``prune_scope``.

``prune_low_magnitude`` behaves as tfmot's by default (shares the model's layers, wraps every
layer, raises ValueError for a layer it cannot prune). Beyond the reference: ``strict=False``
prunes a model with such layers where it can, and :func:`get_skipped_layers` tells which layers
were left dense and why; built subclassed models are pruned in place, layer by layer.
"""

import contextlib
import dataclasses
import logging
import weakref

from prune_studio.compat import keras
from prune_studio.pruning import cloning, registry
from prune_studio.pruning.policy import PruningPolicy
from prune_studio.pruning.schedules import ConstantSparsity, PolynomialDecay
from prune_studio.pruning.wrapper import PruneLowMagnitude, _set_constraint, check_arguments

_SKIPPED = weakref.WeakKeyDictionary()
_LOG = logging.getLogger("prune_studio.pruning")


@dataclasses.dataclass
class PruneResult:
    """What :func:`build_pruned_model` made: the wrapped model and what happened per layer."""

    model: object
    pruned: list
    skipped: dict


def build_pruned_model(model, params_for, strict=False, pruning_policy=None, share=False, wrap_all=False):
    """Wrap the layers of ``model`` that ``params_for(layer)`` gives wrapper arguments for.

    Args:
        model: a Sequential, Functional or subclassed tf-keras model.
        params_for: ``layer -> (kwargs or None, reason)``; None leaves the layer dense, and
            ``reason`` (if not empty) is recorded as why.
        strict: raise ValueError for a layer the engine cannot prune instead of leaving it dense.
        pruning_policy: optional :class:`PruningPolicy`.
        share: wrap the model's own layer objects, as tfmot does (the new model shares their
            variables); otherwise the new model is a copy and ``model`` stays untouched.
        wrap_all: also wrap layers with nothing to prune (weightless and normalisation layers)
            in wrappers that prune nothing, as tfmot does.

    Returns:
        :class:`PruneResult`; its model is not compiled.
    """
    if pruning_policy is not None:
        pruning_policy.ensure_model_supports_pruning(model)
    pruned, skipped = [], {}

    in_place = not cloning.is_clonable_model(model)

    def decide(layer):
        """Wrapper arguments for ``layer``, or None to leave it as it is."""
        if in_place and cloning.is_container(layer):
            return None  # a custom block inside a subclassed model: its own layers are visited
        if isinstance(layer, keras.Model) and not cloning.is_clonable_model(layer) and cloning.can_copy(layer):
            return None  # a subclassed model inside: its copy's layers are wrapped where they are
        kind = registry.wrap_kind(layer)
        if isinstance(layer, PruneLowMagnitude) or kind == "leave":
            return None
        if pruning_policy is not None and not pruning_policy.allow_pruning(layer):
            if kind == "prune":
                skipped[layer.name] = f"The pruning policy {type(pruning_policy).__name__} leaves it dense."
            return None
        if kind == "unsupported":
            _, reason = registry.prunability(layer)
            if strict and (wrap_all or registry.has_weights(layer)):
                raise ValueError(
                    f"Layer {layer.name!r} ({type(layer).__name__}) cannot be pruned: {reason} "
                    "Pass strict=False to leave it dense and prune the rest."
                )
            if registry.has_weights(layer):
                skipped[layer.name] = reason
            return None
        if kind == "no-op":
            return params_for(layer)[0] if wrap_all else None
        params, why = params_for(layer)
        if params is None:
            if why:
                skipped[layer.name] = why
            return None
        pruned.append(layer.name)
        return params

    def replace_in_place(layer):
        params = decide(layer)
        if params is None:
            return None
        wrapper = PruneLowMagnitude(layer, **params)
        if layer.built:
            wrapper.build(getattr(layer, "_build_input_shape", None))
        return wrapper

    if not in_place:

        def replace(layer):
            params = decide(layer)
            if params is None:
                return (layer, None) if share else None
            inner = layer if share else cloning.fresh_copy(layer)
            wrapper = PruneLowMagnitude(inner, **params)
            if inner is layer:
                return wrapper, None
            return wrapper, lambda: inner.set_weights(layer.get_weights())

        new_model = cloning.clone(model, replace)
        # A subclassed model inside (as one opened from a file is held) calls its layers from
        # Python: its copy's layers are wrapped where they are, so its call calls the wrappers.
        originals = {id(layer) for layer in cloning.subclassed_inside(model)}
        for inner in cloning.subclassed_inside(new_model):
            if share or id(inner) not in originals:  # never edit the original when copying
                cloning.edit_in_place(inner, replace_in_place)
    else:
        cloning.edit_in_place(model, replace_in_place)
        new_model = model
    _SKIPPED[new_model] = dict(skipped)
    unsupported = {name: why for name, why in skipped.items() if name not in pruned and "switched off" not in why}
    if unsupported:
        _LOG.warning(
            "Layers left dense (not pruned): %s.",
            "; ".join(f"{name} ({why.rstrip('.')})" for name, why in unsupported.items()),
        )
    return PruneResult(new_model, pruned, skipped)


#: tfmot's message for objects it cannot prune; its tests compare it literally.
_CANNOT_PRUNE = (
    "`prune_low_magnitude` can only prune an object of the following types: "
    "keras.models.Sequential, keras functional model, keras.layers.Layer, list of "
    "keras.layers.Layer. You passed an object of type: {input}."
)


def prune_low_magnitude(
    to_prune,
    pruning_schedule=ConstantSparsity(0.5, 0),
    block_size=(1, 1),
    block_pooling_type="AVG",
    pruning_policy=None,
    sparsity_m_by_n=None,
    strict=True,
    **kwargs,
):
    """Wrap a layer, a list of layers or a model so that it is pruned during training.

    Same arguments and results as ``tfmot.sparsity.keras.prune_low_magnitude``: a model comes
    back as a new, uncompiled model (compile it again) whose wrappers hold the original model's
    own layer objects (so training it prunes them; clone the model first to keep it as it was),
    every layer wrapped (weightless and normalisation layers in wrappers that prune nothing),
    layers already wrapped reused. Beyond tfmot, a built subclassed model is pruned in place.

    Args:
        to_prune: a ``keras.layers.Layer``, a list of them, or a ``keras.Model``.
        pruning_schedule: a :class:`PruningSchedule`.
        block_size: ``(rows, cols)`` of weights pruned together (rank-2 weights only).
        block_pooling_type: ``'AVG'`` or ``'MAX'``.
        pruning_policy: a :class:`PruningPolicy` such as ``PruneForLatencyOnXNNPack()``.
        sparsity_m_by_n: ``(m, n)``, m zeros in every n weights along the input channels.
        strict: True (the default, as tfmot) raises ValueError for a layer the engine cannot
            prune; False leaves such layers dense, prunes the rest, logs a warning naming them,
            and :func:`get_skipped_layers` lists them with the reason.
        **kwargs: Keras layer arguments for the wrapper (layers only).

    Example:
        >>> pruned = prune_low_magnitude(model, PolynomialDecay(0.5, 0.8, 0, 1000))
        >>> pruned.compile("adam", "sparse_categorical_crossentropy")
        >>> pruned.fit(x, y, callbacks=[UpdatePruningStep()])
    """
    params = {
        "pruning_schedule": pruning_schedule,
        "block_size": block_size,
        "block_pooling_type": block_pooling_type,
        "sparsity_m_by_n": sparsity_m_by_n,
    }
    check_arguments(**params)
    if pruning_policy is not None and not isinstance(pruning_policy, PruningPolicy):
        raise ValueError(
            "pruning_policy must be a PruningPolicy such as PruneForLatencyOnXNNPack(), "
            f"got pruning_policy={pruning_policy!r}."
        )
    if isinstance(to_prune, list):
        return [_prune_list_item(layer, params, strict) for layer in to_prune]
    if isinstance(to_prune, keras.Model):
        if not cloning.is_clonable_model(to_prune) and (pruning_policy is not None or not to_prune.built):
            # tfmot refuses every subclassed model with this message; we prune built ones.
            raise ValueError(_CANNOT_PRUNE.format(input=type(to_prune).__name__))
        build = build_pruned_model(
            to_prune, lambda layer: (params, ""), strict, pruning_policy, share=True, wrap_all=True
        )
        return build.model
    if isinstance(to_prune, keras.layers.Layer):
        if isinstance(to_prune, PruneLowMagnitude):
            return to_prune
        return PruneLowMagnitude(to_prune, **params, **kwargs)
    raise ValueError(_CANNOT_PRUNE.format(input=type(to_prune).__name__))


def _prune_list_item(layer, params, strict):
    """One layer of a list given to ``prune_low_magnitude``, treated as tfmot treats it."""
    if isinstance(layer, PruneLowMagnitude):
        return layer
    if isinstance(layer, keras.layers.InputLayer):
        return layer.__class__.from_config(layer.get_config())
    if not strict and registry.wrap_kind(layer) not in ("prune", "no-op"):
        _LOG.warning("Layer %s (%s) left dense (not pruned): %s", layer.name, type(layer).__name__,
                     registry.prunability(layer)[1])
        return layer
    return PruneLowMagnitude(layer, **params)


def get_skipped_layers(model):
    """Layer name -> why it was left dense, for a model returned by ``prune_low_magnitude``."""
    return dict(_SKIPPED.get(model, {}))


def strip_pruning(model):
    """Return a copy of ``model`` without pruning wrappers, its weights already sparse.

    Use it before export. A subclassed model is stripped in place.
    """
    if isinstance(model, PruneLowMagnitude):
        model.apply_masks()
        return model.layer
    if not isinstance(model, keras.Model):
        raise ValueError(f"strip_pruning expects a keras.Model, got an object of type {type(model).__name__}.")
    for wrapper in wrappers_of(model):
        wrapper.apply_masks()
    if cloning.is_clonable_model(model):

        def replace(layer):
            if isinstance(layer, keras.Model) and not cloning.is_clonable_model(layer) and wrappers_of(layer):
                return _stripped_copy(layer)
            if not isinstance(layer, PruneLowMagnitude):
                return None
            inner = cloning.fresh_copy(layer.layer)
            if inner is layer.layer:
                return inner, None
            return inner, lambda: inner.set_weights(layer.layer.get_weights())

        return cloning.clone(model, replace)

    def unwrap(layer):
        if not isinstance(layer, PruneLowMagnitude):
            return None
        layer.mask_by_constraint()  # in case a fit stopped while gradients kept the masks
        for weight, _, _ in layer.pruning_vars:
            _set_constraint(weight, weight.constraint.inner)
        return layer.layer

    cloning.edit_in_place(model, unwrap)
    return model


def _stripped_copy(model):
    """``(copy, load)``: a copy of the subclassed ``model`` without its wrappers, for
    :func:`cloning.clone`; ``load`` fills each of the copy's layers from the layer in the same
    attribute of ``model`` (inside its wrapper, if wrapped)."""
    copy = cloning.fresh_copy(model)
    if copy is model:  # no config: strip it where it is
        strip_pruning(model)
        return model, None
    unwrap = lambda layer: layer.layer if isinstance(layer, PruneLowMagnitude) else layer  # noqa: E731

    def load():
        old = cloning.layers_by_attribute(model, unwrap)
        for path, layer in cloning.layers_by_attribute(copy).items():
            if path in old and layer.weights:
                layer.set_weights(old[path].get_weights())

    return copy, load


def wrappers_of(model):
    """Every :class:`PruneLowMagnitude` inside ``model`` (nested models included), once each."""
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, PruneLowMagnitude)]


@contextlib.contextmanager
def prune_scope():
    """Scope in which saved models that still hold pruning wrappers can be loaded.

    Example:
        >>> with prune_scope():
        ...     model = keras.models.load_model("pruned.keras")
    """
    objects = {
        "PruneLowMagnitude": PruneLowMagnitude,
        "ConstantSparsity": ConstantSparsity,
        "PolynomialDecay": PolynomialDecay,
    }
    with keras.utils.custom_object_scope(objects):
        yield
