"""``prune-studio-cli evaluate MODEL --data DATA``: loss and accuracy of a Keras or TFLite file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prune_studio.cli.common import (
    DATA_HELP,
    CliInputError,
    add_json_flag,
    add_model_flags,
    cli_path,
    data_spec_from_arg,
    emit,
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="loss and accuracy of a Keras or TFLite model on the test split")
    p.add_argument("model", help="a .keras, .h5, SavedModel folder or .tflite file")
    p.add_argument("--data", required=True, help=DATA_HELP)
    p.add_argument("--batch-size", type=int, default=64, help="evaluation batch size for Keras models")
    add_model_flags(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    path = Path(args.model)
    if not path.exists():
        raise CliInputError(f"The model file {args.model} does not exist; give a Keras or .tflite file.")
    spec = data_spec_from_arg(args.data)
    if path.suffix.lower() == ".tflite":
        metrics = evaluate_tflite(path, spec)
    else:
        metrics = evaluate_keras_file(path, spec, args.batch_size, args.trust, cli_path(args.custom_objects))
    payload = {"model": str(path), "data": spec.to_dict(), **metrics}
    text = f"{path.name}: loss {metrics['loss']:.4f}, accuracy {metrics['accuracy']:.2%} on {metrics['samples']} samples"
    each = metrics.get("per_output") or {k[: -len("_accuracy")]: v for k, v in metrics.items()
                                         if k.endswith("_accuracy") and isinstance(v, float)}
    if len(each) > 1:
        text += " (" + ", ".join(f"{k} {v:.2%}" for k, v in each.items()) + ")"
    emit(args, payload, text)
    return 0


def evaluate_keras_file(path: Path, spec, batch_size: int, trust: bool, custom_objects: str | None = None) -> dict:
    from prune_studio.cli.common import load_inputs
    from prune_studio.training.evaluate import evaluate_keras

    loaded, dataset = load_inputs(str(path), spec, trust=trust, custom_objects=custom_objects)
    metrics = evaluate_keras(loaded.model, dataset, loaded.compile_settings, batch_size)
    return {"format": "keras", "samples": int(dataset.num_test), **metrics}


def evaluate_tflite(path: Path, spec) -> dict:
    """Run every test sample through the LiteRT interpreter; loss is the cross-entropy of its outputs.

    A file with several inputs or outputs is fed and scored by the names in its signature
    (``per_output`` holds each output's accuracy; ``accuracy`` is their mean).
    """
    from prune_studio.data import load_data
    from prune_studio.export.verify import open_interpreter, scored, tflite_predict

    try:
        interpreter, note = open_interpreter(model_path=str(path))
    except (RuntimeError, ValueError) as exc:
        raise CliInputError(f"The TFLite file {path} cannot be loaded ({str(exc).splitlines()[0]}).") from exc
    inp = interpreter.get_input_details()[0]
    signature = next(iter((interpreter.get_signature_list() or {}).values()), None)
    several = signature is not None and (len(signature["inputs"]) > 1 or len(signature["outputs"]) > 1)
    names = (signature["inputs"], signature["outputs"]) if several else None
    shape = None if several else tuple(int(d) for d in inp["shape"][1:])
    x, y = load_data(spec, input_shape=shape, names=names).sample(10**9, split="test")
    pred, latency_ms = tflite_predict(interpreter, x, list(y) if isinstance(y, dict) else None)
    result = scored(pred, y, note, latency_ms)
    if isinstance(y, dict):
        losses = [_cross_entropy(pred[k], v) for k, v in y.items() if k in (result.per_output or {})]
        loss = float(np.mean(losses)) if losses else float("nan")
    else:
        loss = _cross_entropy(pred, y)
    out = {"format": "tflite", "samples": int(len(pred[next(iter(pred))]) if isinstance(pred, dict) else len(pred)),
           "loss": loss, "accuracy": result.accuracy, "latency_ms": latency_ms, "note": note}
    if result.per_output:
        out["per_output"] = result.per_output
    return out


def _cross_entropy(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of predicted probabilities against class ids, one-hot or 0/1 labels."""
    eps = 1e-7
    y = np.asarray(y)
    if pred.shape[1] == 1:
        p = np.clip(pred[:, 0], eps, 1 - eps)
        t = y.reshape(-1).astype(np.float32)
        return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))
    probs = pred
    if not np.allclose(pred.sum(axis=1), 1.0, atol=1e-2) or pred.min() < 0:  # logits
        shifted = pred - pred.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    labels = y.argmax(axis=1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(-1).astype(np.int64)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], eps, 1.0))))
