"""What `model.fit` returns in Keras, built from the parameter server's per-epoch records."""


class History:
    """`history[name]` is one value per epoch, as in Keras; `params` says how it ran."""

    def __init__(self, history, epochs, params=None):
        self.history = history
        self.epoch = list(range(epochs))
        self.params = params or {}

    @classmethod
    def from_wire(cls, message, params=None):
        values = {name: [row.values[name] for row in message.epochs if name in row.values] for name in message.names}
        return cls(values, len(message.epochs), params)

    def __repr__(self):
        return f"History({self.history!r})"
