"""``prune-studio-cli inspect MODEL``: the layer table, with what can be pruned and why not."""

from __future__ import annotations

from prune_studio.cli.common import add_json_flag, add_model_flags, cli_path, emit


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("inspect", help="list a model's layers, which can be pruned, and why not")
    p.add_argument("model", help="a Keras model file (.keras, .h5 or a SavedModel folder)")
    add_model_flags(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def _rows(info, depth: int = 0):
    for child in info.children:
        yield child, depth
        yield from _rows(child, depth + 1)


def run(args) -> int:
    from prune_studio.models import open_model

    # described from the file's config: the model is not built and no weight is read
    loaded = open_model(args.model, trust=args.trust, custom_objects_file=cli_path(args.custom_objects))
    desc = loaded.describe()
    layers = [
        {
            "name": info.name,
            "path": info.path,
            "type": info.type,
            "depth": depth,
            "output_shape": _jsonable(info.output_shape),
            "params": int(info.params),
            "prunable": bool(info.prunable),
            "reason": info.reason,
        }
        for info, depth in _rows(desc.root)
    ]
    payload = {
        "model": str(args.model),
        "name": desc.name,
        "format": loaded.fmt,
        "total_params": int(desc.total_params),
        "prunable_params": int(desc.prunable_params),
        "file_bytes": desc.file_bytes,
        "layers": layers,
    }
    lines = [f"{desc.name}: {desc.total_params:,} parameters, {desc.prunable_params:,} prunable", ""]
    lines.append(f"{'layer':<32} {'type':<20} {'params':>10}  prunable")
    for row in layers:
        name = "  " * row["depth"] + row["name"]
        verdict = "yes" if row["prunable"] else f"no: {row['reason']}"
        lines.append(f"{name:<32} {row['type']:<20} {row['params']:>10,}  {verdict}")
    emit(args, payload, "\n".join(lines))
    return 0


def _jsonable(shape):
    if isinstance(shape, (list, tuple)):
        return [_jsonable(s) for s in shape]
    return shape
