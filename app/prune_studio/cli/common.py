"""What every subcommand shares: output (text or ``--json``), errors as exit codes, data arguments."""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from prune_studio.errors import PruneStudioError

log = logging.getLogger("prune_studio.cli")

DATA_HELP = (
    "the data: 'digits' (the built-in sample), an .npz file (x_train, y_train, x_test, y_test; "
    "x_train/<input name>, y_train/<output name>... for a model with several inputs or outputs), "
    "a .csv file, a folder of class sub-folders of images, or a data-spec .json file"
)
DEBUG_ENV = "PRUNE_STUDIO_DEBUG"
TRUST_HELP = "allow the model file to run its own code (Lambda layers, custom classes); only for files you trust"
CUSTOM_OBJECTS_HELP = "a Python file defining the model's custom layers/classes, which are registered before it opens"


class CliInputError(PruneStudioError):
    """A command-line argument that cannot be used (exit code 2)."""


def add_model_flags(parser) -> None:
    """``--trust`` and ``--custom-objects FILE.py``, for every subcommand that opens a model file."""
    parser.add_argument("--trust", action="store_true", help=TRUST_HELP)
    parser.add_argument("--custom-objects", default=None, metavar="FILE.py", help=CUSTOM_OBJECTS_HELP)


def cli_path(text: str | None) -> str | None:
    """A path given on the command line, absolute against the current folder (never a recipe's)."""
    return None if text is None else str(Path(text).expanduser().resolve())


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable results (JSON) on stdout")


def emit(args, payload: dict[str, Any], text: str) -> None:
    """Print ``payload`` as JSON with ``--json``, else the human-readable ``text``."""
    if getattr(args, "json", False):
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(text)
    sys.stdout.flush()


def exit_code_for(exc: BaseException) -> int:
    """2 for bad arguments or inputs, 1 for a failure during the run."""
    from prune_studio.training.errors import TrainingError

    if isinstance(exc, TrainingError) and exc.field is None:
        return 1
    return 2 if isinstance(exc, PruneStudioError) else 1


def report_error(exc: BaseException) -> None:
    """One line on stderr; the full traceback too when ``PRUNE_STUDIO_DEBUG`` is set."""
    if os.environ.get(DEBUG_ENV):
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, PruneStudioError):
        message = str(exc)
    else:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        message = f"{type(exc).__name__}: {lines[0] if lines else 'no details'}"
    print(f"prune-studio-cli: error: {' '.join(message.split())}", file=sys.stderr)


def data_spec_from_arg(text: str):
    """A :class:`prune_studio.data.DataSpec` from a ``--data`` argument (see :data:`DATA_HELP`)."""
    from prune_studio.data import DataSpec

    if text == "digits":
        return DataSpec(kind="digits")
    path = Path(text).expanduser().resolve()  # the current folder's, not a recipe's
    if not path.exists():
        raise CliInputError(f"--data {text!r} does not exist; give {DATA_HELP}.")
    suffix = path.suffix.lower()
    if path.is_dir():
        return DataSpec(kind="folder", path=str(path))
    if suffix in (".npz", ".csv"):
        return DataSpec(kind=suffix[1:], path=str(path))
    if suffix == ".json":
        try:
            spec = DataSpec.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, KeyError) as exc:
            raise CliInputError(f"--data {text!r} is not a valid data-spec file ({exc}).") from exc
        if spec.path is not None and not Path(spec.path).is_absolute():
            spec.path = str(path.parent / spec.path)
        return spec
    raise CliInputError(f"--data {text!r} has an unknown type {suffix!r}; give {DATA_HELP}.")


def load_inputs(model_path: str, spec, trust: bool = False, custom_objects: str | None = None):
    """Open a model (with the classes of a custom-objects file, if given) and its data, checked against each other.

    Data issues with an automatic fix (e.g. labels that need reshaping) are fixed and logged;
    one without a fix raises :class:`CliInputError`.

    Returns:
        ``(LoadedModel, Dataset)``.
    """
    from prune_studio.data import apply_fix, check_data, load_data
    from prune_studio.models import load_model

    loaded = load_model(model_path, trust=trust, custom_objects_file=custom_objects)
    dataset = load_data(spec, model=loaded.model)  # by input/output name for several of them
    for issue in check_data(dataset, loaded.model):
        if issue.fix_id is None:
            raise CliInputError(f"The data does not suit the model: {issue.message}")
        log.info("fixing the data: %s", issue.message)
        dataset = apply_fix(dataset, issue.fix_id)
    return loaded, dataset


def check_output_dir(out: Path, settings, overwrite: bool) -> None:
    """Refuse, before any training, an output folder whose files would be replaced."""
    from prune_studio.export import TargetExistsError, target_paths

    if overwrite:
        return
    existing = [str(p) for p in target_paths(out, settings) if p.exists()]
    if existing:
        raise TargetExistsError(existing)
