"""Group a long list of layers into blocks by their names, for the layer tree.

Keras applications name their layers by block: ``block_3_expand``, ``block_3_depthwise_BN``
(MobileNetV2), ``conv2_block1_1_conv`` (ResNet, DenseNet), ``block1a_expand_conv``
(EfficientNet). :func:`group_layers` puts consecutive layers with the same block prefix under
one :class:`GroupInfo`, so a 150-layer model reads as ~20 blocks. Short lists stay flat.
Plain Python: the tree model and its tests use it without widgets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: Lists shorter than this stay flat (the demo's five layers need no blocks).
MIN_LAYERS_TO_GROUP = 16
_BLOCK = re.compile(r"^(.*?block_?\d+[a-z]?)(?:_|$)", re.IGNORECASE)


@dataclass(eq=False)
class GroupInfo:
    """A block of layers; looks like a ``LayerInfo`` to the tree (not prunable itself)."""

    name: str
    children: list[Any] = field(default_factory=list)
    type: str = ""
    output_shape: Any = None
    prunable: bool = False
    reason: str = "A group of layers: tick it to prune every prunable layer inside."
    is_group: bool = True

    @property
    def params(self) -> int:
        return sum(getattr(c, "params", 0) for c in self.children)


def block_key(name: str) -> str | None:
    """The block a layer name belongs to (``"block_3"`` for ``"block_3_expand_BN"``), or None."""
    match = _BLOCK.match(name)
    if match:
        return match.group(1)
    head, sep, _rest = name.partition("_")
    return head if sep and head and not head.isdigit() else None


def group_layers(infos: list[Any]) -> list[Any]:
    """``infos`` with runs of two or more same-block layers replaced by a :class:`GroupInfo`."""
    if len(infos) < MIN_LAYERS_TO_GROUP:
        return list(infos)
    out: list[Any] = []
    i = 0
    while i < len(infos):
        key = block_key(infos[i].name)
        j = i + 1
        while key is not None and j < len(infos) and block_key(infos[j].name) == key:
            j += 1
        if key is not None and j - i >= 2:
            group = GroupInfo(name=key, children=list(infos[i:j]))
            group.type = f"{j - i} layers"
            out.append(group)
        else:
            out.extend(infos[i:j])
        i = j
    return out
