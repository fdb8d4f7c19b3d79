"""What `model.fit` returns in Keras, built from the parameter server's per-epoch records."""


class History:
    """`history[name]` is one value per epoch, as in Keras; `params` says how it ran."""

    def __init__(self, history, epochs, params=None):
        self.history = history
        self.epoch = list(range(epochs)) if isinstance(epochs, int) else list(epochs)
        self.params = params or {}

    @classmethod
    def from_wire(cls, message, params=None, first_epoch=0):
        """The server's epochs from `first_epoch` on (fit's initial_epoch; earlier ones belong to an earlier fit)."""
        rows = [row for row in message.epochs if row.epoch >= first_epoch]
        values = {name: [row.values[name] for row in rows if name in row.values] for name in message.names}
        return cls({k: v for k, v in values.items() if v}, [row.epoch for row in rows], params)

    @staticmethod
    def staleness_from_wire(message, first_epoch=0):
        """Per epoch (as `History.epoch`): pushes the server applied, and the mean and largest
        staleness among them (updates applied between a worker's pull and its push)."""
        rows = [row for row in message.epochs if row.epoch >= first_epoch]
        return {"pushes": [int(r.pushes) for r in rows], "mean": [float(r.staleness_mean) for r in rows],
                "max": [int(r.staleness_max) for r in rows]}

    def __repr__(self):
        return f"History({self.history!r})"
