"""Real predictions for the result view's sample strip, made by running the exported files.

Exports made before ``ExportReport.samples`` existed carry none; tests and the screenshot
script fill them by running each verified TFLite file and the opened model on a few test
samples (never on the GUI thread of the app itself).
"""

from __future__ import annotations

import numpy as np


def predicted_classes(preds) -> list[int]:
    preds = np.asarray(preds).reshape(len(preds), -1)
    return preds.argmax(axis=1).tolist()


def samples_from_files(report, dataset, baseline_model, n: int = 8) -> list[dict]:
    """``report.samples`` as the export writes them, computed from the files on disk."""
    from prune_studio.export.verify import open_interpreter, tflite_predict

    picked = np.unique(np.linspace(0, len(dataset.x_test) - 1, n).round().astype(int))
    x = dataset.x_test[picked]
    base = predicted_classes(baseline_model.predict(x, verbose=0))
    per = {}
    for artifact in report.artifacts:
        if artifact.ok and artifact.format == "tflite":
            interp, _note = open_interpreter(model_path=artifact.path)
            per[artifact.name] = predicted_classes(tflite_predict(interp, x)[0])
    return [{"index": int(i), "label": int(dataset.y_test[i]), "baseline_pred": base[j],
             "preds": {name: classes[j] for name, classes in per.items()}} for j, i in enumerate(picked)]
