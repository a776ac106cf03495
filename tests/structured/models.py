"""Small real tf-keras models, one per kind of channel coupling the analysis follows."""

from prune_studio.compat import keras

L = keras.layers


def conv_chain():
    """Conv -> BN -> ReLU -> padding -> pooling -> dropout -> Conv -> BN -> ReLU6 -> GAP -> Dense."""
    x = inp = L.Input((12, 12, 3))
    x = L.Conv2D(8, 3, name="conv_a")(x)
    x = L.BatchNormalization(name="bn_a")(x)
    x = L.ReLU(name="relu_a")(x)
    x = L.ZeroPadding2D(1, name="pad")(x)
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Dropout(0.2, name="drop")(x)
    x = L.Conv2D(12, 3, padding="same", name="conv_b")(x)
    x = L.BatchNormalization(name="bn_b")(x)
    x = L.ReLU(6.0, name="relu_b")(x)
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu", name="deconv")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(5, name="head")(x)
    return keras.Model(inp, out, name="conv_chain")


def residual():
    """Two residual Adds and a Subtract tie three convolutions' channels; Flatten into Dense."""
    inp = L.Input((8, 8, 3))
    stem = L.Activation("relu", name="stem_relu")(L.BatchNormalization(name="stem_bn")(L.Conv2D(8, 3, padding="same", name="stem")(inp)))
    a = L.BatchNormalization(name="a_bn")(L.Conv2D(8, 3, padding="same", name="a_conv")(stem))
    x = L.ReLU(name="add1_relu")(L.Add(name="add1")([stem, a]))
    b = L.Conv2D(8, 1, name="b_conv")(x)
    x = L.Subtract(name="sub")([x, b])
    inner = L.Conv2D(10, 3, padding="same", activation="relu", name="inner")(x)
    c = L.Conv2D(8, 1, name="c_conv")(inner)
    x = L.Add(name="add2")([x, c])
    x = L.MaxPooling2D(name="pool")(L.ReLU(name="add2_relu")(x))
    x = L.Flatten(name="flat")(x)
    x = L.Dense(6, activation="relu", name="fc")(x)
    return keras.Model(inp, L.Dense(3, name="out")(x), name="residual")


def depthwise_separable():
    """DepthwiseConv2D (channel-preserving), SeparableConv2D with a depth multiplier, Reshape into Dense."""
    inp = L.Input((10, 10, 3))
    x = L.ReLU(name="r1")(L.BatchNormalization(name="bn1")(L.Conv2D(8, 3, name="conv")(inp)))
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = L.ReLU(name="r2")(L.BatchNormalization(name="bn2")(x))
    x = L.SeparableConv2D(10, 3, depth_multiplier=2, activation="relu", name="sep")(x)
    x = L.AveragePooling2D(name="avg")(x)
    x = L.Conv2D(6, 1, activation="relu", name="pw")(x)
    x = L.Reshape((3 * 3 * 6,), name="reshape")(x)
    return keras.Model(inp, L.Dense(4, name="out")(x), name="depthwise_separable")


def gated_concat():
    """A squeeze-and-excitation gate (Multiply) and a Concatenate with channel offsets."""
    inp = L.Input((8, 8, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    s = L.GlobalAveragePooling2D(name="squeeze")(x)
    s = L.Dense(4, activation="relu", name="se_reduce")(s)
    s = L.Dense(8, activation="sigmoid", name="se_expand")(s)
    s = L.Reshape((1, 1, 8), name="se_reshape")(s)
    gated = L.Multiply(name="gate")([x, s])
    side = L.Conv2D(4, 1, activation="relu", name="side")(x)
    x = L.Concatenate(name="cat")([gated, side])
    x = L.Conv2D(6, 3, activation="relu", name="mix")(x)
    x = L.GlobalMaxPooling2D(name="gmp")(x)
    return keras.Model(inp, L.Dense(3, name="out")(x), name="gated_concat")


def attention():
    """Conv1D features, MultiHeadAttention with a residual Add, Dense on a sequence."""
    inp = L.Input((10, 6))
    x = L.Conv1D(8, 3, padding="same", activation="relu", name="conv1d")(inp)
    att = L.MultiHeadAttention(num_heads=4, key_dim=3, name="mha")(x, x)
    x = L.Add(name="res")([x, att])
    x = L.Dense(12, activation="relu", name="ffn")(x)
    x = L.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(inp, L.Dense(3, name="out")(x), name="attention")


def sequential():
    """A Sequential CNN: Conv -> pool -> Flatten -> Dense -> Dense."""
    return keras.Sequential([
        L.Input((8, 8, 1)),
        L.Conv2D(8, 3, activation="relu", name="conv"),
        L.MaxPooling2D(name="pool"),
        L.Flatten(name="flat"),
        L.Dense(16, activation="relu", name="hidden"),
        L.Dense(3, name="out"),
    ], name="sequential")


def inverted_residual():
    """MobileNetV2 in small: stem, expand -> depthwise -> linear projection, a residual Add, a head conv."""
    inp = L.Input((16, 16, 3))
    x = L.ReLU(6.0, name="stem_relu")(L.BatchNormalization(name="stem_bn")(
        L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(inp)))

    def block(x, name, width, out):
        y = L.ReLU(6.0, name=f"{name}_expand_relu")(L.BatchNormalization(name=f"{name}_expand_bn")(
            L.Conv2D(width, 1, use_bias=False, name=f"{name}_expand")(x)))
        y = L.ReLU(6.0, name=f"{name}_dw_relu")(L.BatchNormalization(name=f"{name}_dw_bn")(
            L.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(y)))
        return L.BatchNormalization(name=f"{name}_project_bn")(L.Conv2D(out, 1, use_bias=False, name=f"{name}_project")(y))

    x = block(x, "b1", 24, 8)  # linear bottleneck (no residual: the stem keeps its own channels)
    x = L.Add(name="b2_add")([x, block(x, "b2", 24, 8)])
    x = block(x, "b3", 32, 12)
    x = L.ReLU(6.0, name="head_relu")(L.BatchNormalization(name="head_bn")(L.Conv2D(32, 1, use_bias=False, name="head")(x)))
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, L.Dense(4, name="out")(x), name="inverted_residual")


ALL = {f.__name__: f for f in (conv_chain, residual, depthwise_separable, gated_concat, attention, sequential,
                               inverted_residual)}
