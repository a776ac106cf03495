"""``prune-studio-cli``: the window's runs without a window.

One module per subcommand (``cmd_<name>.py``), each with ``add_parser(subparsers)`` that sets a
``func(args) -> int`` default. Exit codes: 0 success, 2 bad arguments or inputs (one line on
stderr), 1 a failure during the run. Subcommand modules import TensorFlow only when they run,
so ``--help`` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from prune_studio import __version__

#: Subcommand modules, in the order ``--help`` lists them; a missing one is left out.
COMMANDS = ("cmd_inspect", "cmd_scan", "cmd_prune", "cmd_shrink", "cmd_demo", "cmd_evaluate", "cmd_export")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand module that is installed."""
    parser = argparse.ArgumentParser(
        prog="prune-studio-cli",
        description="Prune Keras models from the command line, with the same engine and recipes as the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand and return its exit code (argparse exits with 2 on bad arguments)."""
    from prune_studio.cli.common import exit_code_for, report_error

    args = build_parser().parse_args(argv)
    from prune_studio.export import tflite_process

    # No window to keep responsive: TFLite files are converted here, which spares each run the
    # converter process's own TensorFlow import.
    tflite_process.use_child(False)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("prune-studio-cli: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure becomes an exit code and one line
        report_error(exc)
        return exit_code_for(exc)
