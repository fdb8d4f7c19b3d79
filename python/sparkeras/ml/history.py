"""A fit's History as a DataFrame, the same in both languages and both kinds of session:
`epoch` (from 0, as Keras numbers epochs) and one double column per metric (loss, accuracy,
val_loss, ...), holding what Keras's `History.history` holds; a value that is not finite (a
diverged loss), or an epoch a metric was not computed for, is null."""
import math


def history_frame(spark, history):
    """The DataFrame of a History dict ({"loss": [0.9, 0.4], ...})."""
    names = list(history)
    epochs = max((len(values) for values in history.values()), default=0)
    def value(name, epoch):  # an epoch a metric lacks, and a non-finite or missing value, are null
        values = history[name]
        v = values[epoch] if epoch < len(values) else None
        return float(v) if v is not None and math.isfinite(float(v)) else None
    rows = [tuple([epoch] + [value(name, epoch) for name in names]) for epoch in range(epochs)]
    schema = ", ".join(["epoch int"] + [f"`{name}` double" for name in names])
    return spark.createDataFrame(rows, schema)


def history_dict(frame):
    """The History dict of such a DataFrame."""
    names = [c for c in frame.columns if c != "epoch"]
    rows = sorted(frame.collect(), key=lambda r: r["epoch"])
    return {name: [row[name] for row in rows] for name in names}
