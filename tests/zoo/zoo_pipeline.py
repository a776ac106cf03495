"""The zoo: small real architectures, written by tf-keras or Keras 3, run through the CLI pipeline.

``zoo_maker.py`` writes each model and its data in a process of its own (one Keras flavour per
process). A test then does what a user does: ``inspect`` the file, write a recipe that prunes
every prunable layer, ``prune`` it (fine-tune, export, verify) and read ``report.json``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import run_cli

ZOO = Path(__file__).resolve().parent
CUSTOM_OBJECTS = ZOO / "zoo_custom.py"


def make_zoo(out: Path, flavour: str, kinds: list[str], *extra: str) -> Path:
    """Write ``kinds`` (``KIND[:fmt,fmt]``) into ``out`` with the given Keras flavour."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    proc = subprocess.run([sys.executable, str(ZOO / "zoo_maker.py"), flavour, str(out), *kinds, *extra],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def kinds_to_make(request, kinds: list[str], heavy: set[str]) -> list[str]:
    """``kinds`` without the ``heavy`` ones unless a test marked heavy in this module is to run.

    Heavy runs are left out of ``make test`` (``-m "not heavy"``), so their models are not built there.
    """
    wanted = any(item.get_closest_marker("heavy") for item in request.session.items
                 if getattr(item, "module", None) is request.module)
    return [k for k in kinds if wanted or k.split(":")[0] not in heavy]


def model_file(zoo: Path, kind: str, fmt: str = "keras") -> Path:
    return zoo / (f"{kind}_savedmodel" if fmt == "savedmodel" else f"{kind}.{fmt}")


def prune_recipe(path: Path, layers: list[str], sparsity: float = 0.5, epochs: int = 1, batch_size: int = 32,
                 steps: int = 8, export: dict | None = None) -> Path:
    """A recipe that ramps every named layer from 0 to ``sparsity`` zeros within ``steps`` batches."""
    schedule = {"class_name": "PolynomialDecay",
                "config": {"initial_sparsity": 0.0, "final_sparsity": sparsity, "power": 3,
                           "begin_step": 0, "end_step": steps, "frequency": 1}}
    recipe = {
        "schema_version": 1,
        "model": {"path": "unused.keras", "trust": False},
        "data": {"kind": "digits"},
        "plan": {"layers": {name: {"enabled": True, "schedule": schedule} for name in layers}},
        "training": {"epochs": epochs, "batch_size": batch_size},
        "export": dict(export or {}),
    }
    path.write_text(json.dumps(recipe), encoding="utf-8")
    return path


#: What a zoo run exports unless a test asks for more: the Keras files (and the Keras 3 copy) and
#: the float32 and full-integer TFLite files, each verified. The other TFLite kinds and the
#: sparse copies are exercised on the demo and the sequence models in tests/export/, and on
#: MobileNetV2 in ``make bench``; making them for every zoo model cost minutes of CI.
ZOO_EXPORT = {"tflite": ["float32", "int8"], "sparse": False}


def run_pipeline(model: Path, data: Path, out: Path, *extra: str, export: dict | None = None) -> tuple[dict, dict]:
    """``inspect`` then ``prune`` every prunable layer at 50% zeros; returns (inspect, report)."""
    described = run_cli("inspect", model, "--json", *extra).json()
    prunable = [layer["name"] for layer in described["layers"] if layer["prunable"]]
    assert prunable, f"nothing prunable in {model.name}: {described['layers']}"
    export = {**ZOO_EXPORT, **(export or {})}
    recipe = prune_recipe(out.parent / f"{out.name}_recipe.json", prunable, export=export)
    run = run_cli("prune", model, "--data", data, "--recipe", recipe, "--out", out, "--json", *extra, timeout=900)
    report = run.json()
    return described, report


def assert_exported_and_verified(report: dict, expect_pruned: float = 0.5) -> None:
    """Every artifact was written and verified by running it; pruned layers reached their target.

    A file the export measured and then dropped (larger and slower than the plain file of its
    precision) is not a failure: it says so in its note.
    """
    failed = [(a["name"], a["note"]) for a in report["artifacts"] if not a["ok"] and not a.get("dropped")]
    assert not failed, failed
    kept = [a for a in report["artifacts"] if a["ok"]]
    assert any(a["format"] == "tflite" for a in kept) and any(a["format"] != "tflite" for a in kept), kept
    for art in kept:
        assert art["bytes"] > 0 and Path(art["path"]).exists(), art
        assert art["accuracy"] is not None, art
    sparsity = report["training"]["sparsity"]
    assert sparsity, "no layer was pruned"
    for layer, zeros in sparsity.items():
        assert zeros == pytest.approx(expect_pruned, abs=0.06), (layer, zeros)
