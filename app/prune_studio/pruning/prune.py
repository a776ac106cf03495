"""Entry points: ``prune_low_magnitude``, ``strip_pruning``, ``prune_scope``.

Beyond the reference: a model with layers the engine cannot prune is still pruned where it can
be (``strict=False``), and :func:`get_skipped_layers` tells which layers were left dense and
why; subclassed models are pruned in place, layer by layer.
"""

import contextlib
import dataclasses
import weakref

from prune_studio.compat import keras
from prune_studio.pruning import cloning, registry
from prune_studio.pruning.policy import PruningPolicy
from prune_studio.pruning.schedules import ConstantSparsity, PolynomialDecay
from prune_studio.pruning.wrapper import PruneLowMagnitude, _set_constraint, check_arguments

_SKIPPED = weakref.WeakKeyDictionary()


@dataclasses.dataclass
class PruneResult:
    """What :func:`build_pruned_model` made: the wrapped model and what happened per layer."""

    model: object
    pruned: list
    skipped: dict


def build_pruned_model(model, params_for, strict=False, pruning_policy=None):
    """Wrap the layers of ``model`` that ``params_for(layer)`` gives wrapper arguments for.

    Args:
        model: a Sequential, Functional or subclassed tf-keras model.
        params_for: ``layer -> (kwargs or None, reason)``; None leaves the layer dense, and
            ``reason`` (if not empty) is recorded as why.
        strict: raise ValueError for a layer with weights the engine cannot prune, as the
            reference does, instead of leaving it dense.
        pruning_policy: optional :class:`PruningPolicy`.

    Returns:
        :class:`PruneResult`; its model is not compiled.
    """
    if pruning_policy is not None:
        pruning_policy.ensure_model_supports_pruning(model)
    pruned, skipped = [], {}

    def decide(layer):
        if isinstance(layer, (PruneLowMagnitude, keras.layers.InputLayer)):
            return None
        ok, reason = registry.prunability(layer)
        if not ok:
            if registry.has_weights(layer) and not isinstance(layer, registry.PASSTHROUGH):
                if strict:
                    raise ValueError(f"Layer {layer.name!r} cannot be pruned: {reason}")
                skipped[layer.name] = reason
            return None
        if pruning_policy is not None and not pruning_policy.allow_pruning(layer):
            skipped[layer.name] = f"The pruning policy {type(pruning_policy).__name__} leaves it dense."
            return None
        params, why = params_for(layer)
        if params is None:
            if why:
                skipped[layer.name] = why
            return None
        pruned.append(layer.name)
        return params

    if cloning.is_clonable_model(model):

        def replace(layer):
            params = decide(layer)
            if params is None:
                return None
            inner = cloning.fresh_copy(layer)
            wrapper = PruneLowMagnitude(inner, **params)
            if inner is layer:
                return wrapper, None
            return wrapper, lambda: inner.set_weights(layer.get_weights())

        new_model = cloning.clone(model, replace)
    else:

        def replace_in_place(layer):
            params = decide(layer)
            if params is None:
                return None
            wrapper = PruneLowMagnitude(layer, **params)
            if layer.built:
                wrapper.build(getattr(layer, "_build_input_shape", None))
            return wrapper

        cloning.edit_in_place(model, replace_in_place)
        new_model = model
    _SKIPPED[new_model] = dict(skipped)
    return PruneResult(new_model, pruned, skipped)


def prune_low_magnitude(
    to_prune,
    pruning_schedule=ConstantSparsity(0.5, 0),
    block_size=(1, 1),
    block_pooling_type="AVG",
    pruning_policy=None,
    sparsity_m_by_n=None,
    strict=False,
    **kwargs,
):
    """Wrap a layer, a list of layers or a model so that it is pruned during training.

    Same arguments and results as ``tfmot.sparsity.keras.prune_low_magnitude``. A model comes
    back as a new, uncompiled model (compile it again); the original is left untouched, except
    a subclassed model, which is pruned in place. Layers that cannot be pruned are left dense and
    listed by :func:`get_skipped_layers`, unless ``strict=True``, which raises ValueError.

    Args:
        to_prune: a ``keras.layers.Layer``, a list of them, or a ``keras.Model``.
        pruning_schedule: a :class:`PruningSchedule`.
        block_size: ``(rows, cols)`` of weights pruned together (rank-2 weights only).
        block_pooling_type: ``'AVG'`` or ``'MAX'``.
        pruning_policy: a :class:`PruningPolicy` such as ``PruneForLatencyOnXNNPack()``.
        sparsity_m_by_n: ``(m, n)``, m zeros in every n weights along the input channels.
        strict: refuse models with layers that cannot be pruned, as the reference does.
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
        return [prune_low_magnitude(layer, **params, strict=strict, **kwargs) for layer in to_prune]
    if isinstance(to_prune, keras.Model):
        if pruning_policy is None and not cloning.is_clonable_model(to_prune) and not to_prune.built:
            raise ValueError(
                f"A subclassed model must be built (called once) before pruning, got model {to_prune.name!r}."
            )
        return build_pruned_model(to_prune, lambda layer: (params, ""), strict, pruning_policy).model
    if isinstance(to_prune, keras.layers.Layer):
        if isinstance(to_prune, PruneLowMagnitude):
            return to_prune
        return PruneLowMagnitude(to_prune, **params, **kwargs)
    raise ValueError(
        "`prune_low_magnitude` can only prune a keras.Model, a keras.layers.Layer or a list of "
        f"layers, got an object of type {type(to_prune).__name__}."
    )


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
        for weight, _, _ in layer.pruning_vars:
            _set_constraint(weight, weight.constraint.inner)
        return layer.layer

    cloning.edit_in_place(model, unwrap)
    return model


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
