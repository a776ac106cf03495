"""TensorFlow set-up for a CLI run: logical CPU devices and the ``--strategy`` to train with.

Both must happen before TensorFlow runs its first operation, so subcommands call
:func:`make_strategy` before they open a model.
"""

from __future__ import annotations

import json
import os

from prune_studio.cli.common import CliInputError

LOGICAL_CPUS_ENV = "PRUNE_STUDIO_LOGICAL_CPUS"
STRATEGIES = ("default", "mirrored", "multi-worker")


def add_strategy_args(parser) -> None:
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="default",
        help="train on one device (default), all local GPUs (mirrored), or a cluster described by "
        "the TF_CONFIG environment variable (multi-worker)",
    )
    parser.add_argument(
        "--logical-cpus",
        type=int,
        default=None,
        metavar="N",
        help=f"split the CPU into N logical devices, e.g. to try --strategy mirrored without GPUs "
        f"(also from ${LOGICAL_CPUS_ENV})",
    )


def _logical_cpus(args) -> int:
    value = args.logical_cpus if args.logical_cpus is not None else os.environ.get(LOGICAL_CPUS_ENV, "0")
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise CliInputError(f"The logical CPU count {value!r} is not valid; give a whole number of at least 1.")
    return count


def make_strategy(args):
    """Configure devices and return the ``tf.distribute`` strategy (``None`` for the default).

    Raises:
        CliInputError: a bad device count, or ``multi-worker`` without a usable ``TF_CONFIG``.
    """
    count = _logical_cpus(args)
    if args.strategy == "multi-worker":
        _check_tf_config()
    from prune_studio.compat import tf

    if count > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    if args.strategy == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if args.strategy == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    return None


def _check_tf_config() -> None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise CliInputError(
            "--strategy multi-worker needs the TF_CONFIG environment variable "
            '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}).'
        )
    try:
        config = json.loads(raw)
        config["cluster"], config["task"]["type"], config["task"]["index"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CliInputError(
            f"TF_CONFIG is not valid ({exc}); it needs a 'cluster' and a 'task' with 'type' and 'index'."
        ) from exc


def describe_strategy(name: str, strategy) -> dict:
    """Name, replica count and this process's role (``chief`` writes the shared files), for the report."""
    if strategy is None:
        return {"name": name, "replicas": 1, "chief": True, "task": None}
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    task_id = getattr(resolver, "task_id", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    chief = task_type in (None, "chief") or (task_type == "worker" and task_id == 0 and "chief" not in cluster)
    return {
        "name": name,
        "replicas": int(strategy.num_replicas_in_sync),
        "chief": bool(chief),
        "task": f"{task_type}:{task_id}" if task_type is not None else None,
    }
