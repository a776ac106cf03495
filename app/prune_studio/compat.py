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

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

tf.get_logger().setLevel("ERROR")

__all__ = ["tf", "keras"]
