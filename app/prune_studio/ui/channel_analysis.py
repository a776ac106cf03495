"""The open model's channel analysis, made in a worker so the Channels tab fills without a stall.

``prune_studio.structured.analyze`` walks every layer of a model (about 130 ms for MobileNetV2).
The window's model-building and data-loading tasks already run in a worker; they call
:func:`prepare` once the model is built, and the Channels tab reads the result with
:func:`graph_of` on the GUI thread. A model nobody prepared (a panel used on its own) is analysed
on the spot. Results are held only as long as the model lives. Plain Python (no Qt).

Example::

    prepare(model)              # in a worker
    graph = graph_of(model)     # on the GUI thread: the graph made above
"""

from __future__ import annotations

import logging
import threading
import weakref

log = logging.getLogger(__name__)

#: model -> (ChannelGraph or the StructureError saying why there is none, name of the thread that made it)
_analysed: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def prepare(model) -> None:
    """Analyse ``model``'s channel groups now (call it from a worker), unless done before."""
    if model is None or model in _analysed:
        return
    from prune_studio.structured.groups import StructureError, analyze

    try:
        found = analyze(model)
    except StructureError as exc:  # e.g. a subclassed model: the tab says why, in a sentence
        found = exc
    except Exception:  # noqa: BLE001 - the data still loads; the tab analyses again and reports it
        log.exception("the channel analysis failed in the background")
        return
    _analysed[model] = (found, threading.current_thread().name)


def graph_of(model):
    """The :class:`~prune_studio.structured.groups.ChannelGraph` of ``model``.

    Raises:
        StructureError: the analysis cannot follow this model (the message says why).
    """
    if model not in _analysed:
        prepare(model)
    found = _analysed[model][0] if model in _analysed else None
    if found is None:  # prepare() logged a failure: let it surface as it is
        from prune_studio.structured.groups import analyze

        return analyze(model)
    if isinstance(found, Exception):
        raise found
    return found


def analysed_in(model) -> str | None:
    """The name of the thread that analysed ``model`` (None when nobody has yet)."""
    entry = _analysed.get(model)
    return entry[1] if entry is not None else None
