"""The user's own classes for the zoo's custom-layer and subclassed models.

This is the file a user passes with ``--custom-objects``. It works with tf-keras (imported
through Prune Studio, which selects it) and with Keras 3 (``define(keras)`` from the maker).
"""

Scale = TinyNet = None


def define(K):
    """Define the classes against the Keras module ``K`` and register them."""
    global Scale, TinyNet

    @K.utils.register_keras_serializable(package="zoo")
    class Scale(K.layers.Layer):  # noqa: F811  (defined once per flavour)
        """Multiplies each channel by a learned factor."""

        def build(self, input_shape):
            self.factor = self.add_weight(name="factor", shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.factor

    @K.utils.register_keras_serializable(package="zoo")
    class TinyNet(K.Model):  # noqa: F811
        """conv -> pool -> dense, written as a subclassed model."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = K.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")
            self.pool = K.layers.GlobalAveragePooling2D(name="pool")
            self.out = K.layers.Dense(10, activation="softmax", name="out")

        def call(self, x):
            return self.out(self.pool(self.conv(x)))

    return Scale, TinyNet


def _auto_define():
    try:
        from prune_studio.compat import keras
    except ImportError:  # the maker defines them itself
        return
    define(keras)


_auto_define()
