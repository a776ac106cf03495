"""``PrunableLayer``: how a custom layer says which of its weights to prune."""

import abc


class PrunableLayer(abc.ABC):
    """Mix into a custom Keras layer and return the weights to prune.

    Example:
        >>> class MyDense(keras.layers.Dense, PrunableLayer):
        ...     def get_prunable_weights(self):
        ...         return [self.kernel]
    """

    @abc.abstractmethod
    def get_prunable_weights(self):
        """Return the list of weight variables pruning should mask."""
        raise NotImplementedError("Must be implemented in subclasses.")
