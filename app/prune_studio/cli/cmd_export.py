"""``prune-studio-cli export MODEL --data DATA --out DIR``: export a model that is already pruned."""

from __future__ import annotations

from pathlib import Path

from prune_studio.cli.common import (
    DATA_HELP,
    CliInputError,
    add_json_flag,
    add_model_flags,
    cli_path,
    data_spec_from_arg,
    emit,
    load_inputs,
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("export", help="strip, save, convert to TFLite and verify an already pruned model")
    p.add_argument("model", help="the pruned Keras model file (with or without pruning wrappers)")
    p.add_argument("--data", required=True, help=DATA_HELP + " (test split verifies, training split calibrates int8)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--recipe", default=None, help="take the export choices from this recipe")
    p.add_argument("--tflite", default=None, metavar="KINDS",
                   help="comma-separated TFLite kinds: float32, dynamic, float16, int8 ('' for none)")
    p.add_argument("--no-keras", action="store_true", help="do not write model.keras")
    p.add_argument("--no-h5", action="store_true", help="do not write model.h5")
    p.add_argument("--no-keras3", action="store_true", help="do not write a Keras 3 copy (model_keras3.keras) of a tf-keras model")
    p.add_argument("--no-sparse", action="store_true", help="do not write sparse-encoded TFLite files")
    p.add_argument("--int8-io", choices=("float", "int8"), default=None, help="input/output type of the int8 model")
    p.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    add_model_flags(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def export_settings(args):
    """The recipe's export choices (or the defaults), with the command-line options applied."""
    from prune_studio.export import ExportSettings
    from prune_studio.recipe import load_recipe

    base = load_recipe(args.recipe).export.to_dict() if args.recipe else ExportSettings().to_dict()
    if args.tflite is not None:
        base["tflite"] = [k.strip() for k in args.tflite.split(",") if k.strip()]
    if args.no_keras:
        base["keras"] = False
    if args.no_h5:
        base["h5"] = False
    if args.no_keras3:
        base["keras3"] = False
    if args.no_sparse:
        base["sparse"] = False
    if args.int8_io is not None:
        base["int8_io"] = args.int8_io
    return ExportSettings.from_dict(base)


def run(args) -> int:
    from prune_studio.cli.pipeline import export_exit_code, summary_lines
    from prune_studio.export import export_all

    model = Path(args.model)
    if not model.exists():
        raise CliInputError(f"The model file {args.model} does not exist; give a .keras, .h5 or SavedModel path.")
    settings = export_settings(args)
    loaded, dataset = load_inputs(str(model), data_spec_from_arg(args.data), trust=args.trust,
                                  custom_objects=cli_path(args.custom_objects))
    report = export_all(loaded.model, dataset, Path(args.out), settings, baseline_path=str(model),
                        baseline_model=loaded.model, overwrite=args.overwrite).to_dict()
    emit(args, report, "\n".join(summary_lines(report)))
    return export_exit_code(report)
