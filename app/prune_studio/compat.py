"""The one place that decides the Keras flavour.

Importing this module sets ``TF_USE_LEGACY_KERAS=1`` and quiets TensorFlow's start-up
log noise *before* TensorFlow is imported, then exposes ``tf`` and ``keras`` (tf-keras,
the Keras 2 API). Every core module imports TensorFlow and Keras from here::

    from prune_studio.compat import tf, keras
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import contextlib  # noqa: E402
import sys  # noqa: E402


@contextlib.contextmanager
def _native_stderr_silenced():
    """Hide what native code writes to fd 2 while TensorFlow loads.

    The CUDA probe and absl print "Could not find cuda drivers..." before TensorFlow's own
    log level applies. Python exceptions are unaffected: they propagate, not print.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. a GUI process without a console)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with _native_stderr_silenced():
    import tensorflow as tf  # noqa: E402
    import tf_keras as keras  # noqa: E402

    # Probing devices here (allowed before logical devices are configured) moves the
    # "failed call to cuInit" line of a machine without a GPU inside the silenced block.
    tf.config.list_physical_devices()

tf.get_logger().setLevel("ERROR")

__all__ = ["tf", "keras"]
