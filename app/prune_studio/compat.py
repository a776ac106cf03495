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
import gc  # noqa: E402
import sys  # noqa: E402


@contextlib.contextmanager
def native_output_silenced(fds=(2,)):
    """Hide what native code writes to the given file descriptors (default: stderr).

    TensorFlow's C++ parts print straight to fd 1/2: the CUDA probe ("Could not find cuda
    drivers...") before its own log level applies, and the TFLite converter's quantizer
    summary. Python exceptions are unaffected: they propagate, not print.
    """
    saved = []
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [(fd, os.dup(fd)) for fd in fds]
    except (OSError, ValueError, AttributeError):  # no real descriptors (a GUI without console)
        for _, copy in saved:
            os.close(copy)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd, _ in saved:
            os.dup2(devnull, fd)
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


with native_output_silenced():
    import tensorflow as tf  # noqa: E402
    import tf_keras as keras  # noqa: E402

    # Probing devices here (allowed before logical devices are configured) moves the
    # "failed call to cuInit" line of a machine without a GPU inside the silenced block.
    tf.config.list_physical_devices()

tf.get_logger().setLevel("ERROR")

# Importing TensorFlow and tf-keras leaves some 270,000 Python objects that live as long as
# the process; every full garbage collection walked them all (0.2 s here, and one falls
# every few hundred thousand allocations: in the middle of opening a model, of an epoch...).
# Frozen, they are out of the collector's sight; everything made later is collected as before.
gc.freeze()

__all__ = ["tf", "keras", "native_output_silenced"]
