"""Which channel group each layer belongs to, in words, for the layer tree and the Channels tab.

A :class:`~prune_studio.structured.groups.ChannelGraph` lists groups of channels that can only go
together; a residual ``Add`` ties the convolutions whose outputs it sums into one group. The
window shows, per layer, the group whose channels the layer *makes* (a convolution, a Dense) or
*passes on* (a BatchNormalization, a pooling, a Flatten), so a user sees that several convolutions
share one group. Plain Python (no Qt): tested without widgets.

Example::

    members = membership(analyze(model))
    members["a_conv"].cell()       # "stem (4 tied)", or "stem (4 tied) → 4/8" once thinned
    members["a_conv"].sentence()   # "Shares its channels with stem, b_conv and c_conv: ..."
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Membership:
    """One layer's place in a channel group.

    Attributes:
        layer: the layer's name.
        group: the group's name (its first producer).
        producers: every layer that makes the group's channels (more than one when tied).
        size: channels in the group.
        prunable: whether the group's channels can be removed.
        reason: why not (empty when they can).
        makes: the layer makes these channels (else it follows them: BatchNorm, pooling...).
        kept: channels the window's choice keeps (``None``: all of them).
    """

    layer: str
    group: str
    producers: list[str] = field(default_factory=list)
    size: int = 0
    prunable: bool = True
    reason: str = ""
    makes: bool = True
    kept: int | None = None

    @property
    def tied(self) -> bool:
        return len(self.producers) > 1

    def cell(self) -> str:
        """Short text for a table cell: ``"stem (4 tied) → 4/8"``, ``"out · fixed"``."""
        text = self.group + (f" ({len(self.producers)} tied)" if self.tied else "")
        if not self.prunable:
            return text + " · fixed"
        if self.kept is not None and self.kept < self.size:
            return text + f" → {self.kept}/{self.size}"
        return text

    def sentence(self) -> str:
        """A tooltip: what the group is, who else is in it, what removing a channel means."""
        others = [p for p in self.producers if p != self.layer]
        if self.makes and others:
            head = (f"{self.layer} shares its {self.size} output channels with {_join(others)} "
                    f"(an element-wise merge such as a residual Add ties them): a channel is removed "
                    f"from all of them or from none.")
        elif self.makes:
            head = f"{self.layer} makes the {self.size} channels of group '{self.group}'."
        else:
            head = (f"{self.layer} follows the {self.size} channels of group '{self.group}' "
                    f"(made by {_join(self.producers)}): it shrinks with them.")
        if not self.prunable:
            return f"{head} They stay: {self.reason}"
        if self.kept is not None and self.kept < self.size:
            return f"{head} The Channels tab keeps {self.kept} of them."
        return head


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    shown = names[:5] + ([f"{len(names) - 5} more"] if len(names) > 5 else [])
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def membership(graph, kept: dict[str, int] | None = None) -> dict[str, Membership]:
    """Layer name -> its :class:`Membership` for every layer a group of ``graph`` names.

    A layer that makes channels belongs to that group; a layer that only passes channels on
    (listed in a group's ``layers`` but no group's producer) belongs to the first group listing it.
    ``kept`` (group name -> channels kept) fills :attr:`Membership.kept`.
    Heads groups (attention) are left to their layer's own channel group.
    """
    kept = kept or {}
    out: dict[str, Membership] = {}

    def entry(layer: str, group, makes: bool) -> Membership:
        return Membership(layer=layer, group=group.name, producers=list(group.producers), size=group.size,
                          prunable=group.prunable, reason=group.reason, makes=makes, kept=kept.get(group.name))

    groups = [g for g in graph.groups if getattr(g, "kind", "channels") == "channels"]
    for group in groups:
        for layer in group.producers:
            out.setdefault(layer, entry(layer, group, True))
    producers = set(out)
    for group in groups:
        for layer in group.layers:
            if layer not in producers and layer not in out:
                out[layer] = entry(layer, group, False)
    return out


def tied_groups(graph) -> list:
    """The groups whose channels several layers make (residual adds and other merges)."""
    return [g for g in graph.groups if len(g.producers) > 1]
