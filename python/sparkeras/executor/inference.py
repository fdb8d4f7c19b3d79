"""Predictions and exact metric states for blocks of rows, with the model built once per
worker process and its weights set once per job (keyed, so a broadcast is read once)."""
import io

import numpy as np

from sparkeras.executor.arrays import model_input, rows_of, slice_rows
from sparkeras.executor.keras_model import get_model
from sparkeras.executor.process import prepare_process


class ModelHandle:
    """A trained model as executors receive it: its JSON spec and weights (usually a
    broadcast), with a key that names these weights."""

    def __init__(self, weights_key, weights, model_json, compile_json="", custom_objects=None, threads=1):
        self.weights_key, self.weights = weights_key, weights
        self.model_json, self.compile_json = model_json, compile_json
        self.custom_objects, self.threads = custom_objects, threads

    def worker_model(self):
        prepare_process(self.threads)
        wm = get_model(self.model_json, self.compile_json, self.custom_objects)
        weights = self.weights.value if hasattr(self.weights, "value") else self.weights
        wm.set_weights(self.weights_key, weights)
        return wm


def predict_blocks(handle, blocks, batch_size):
    """The model's outputs for each block, in order, computed `batch_size` rows at a time:
    an array per batch, or a list of per-output arrays for a model with several outputs."""
    wm = handle.worker_model()
    for xs, _ in blocks:
        n = len(xs[0])
        for i in range(0, n, batch_size):
            out = wm.predict_step(model_input([x[i:i + batch_size] for x in xs]))
            yield [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out)


def predict_array(handle, xs):
    """The model's outputs for one batch of per-input arrays, flattened per row."""
    wm = handle.worker_model()
    out = np.asarray(wm.predict_step(model_input(xs)), dtype=np.float32)
    return out.reshape(len(out), -1)


def rows_as_array(column, shape):
    """A pandas column of feature rows as one float32 array shaped (rows,) + `shape`. Rows
    are arrays or numbers, or Spark ML Vectors, which reach a pandas UDF as a frame of
    their struct (type 1 dense: values; type 0 sparse: size, indices, values)."""
    if hasattr(column, "columns"):  # a Vector column
        width = int(np.prod(shape))
        dense = column["type"].to_numpy() == 1
        out = np.zeros((len(column), width), dtype=np.float32)
        if dense.all():
            out[:] = np.stack(column["values"].to_numpy()) if len(column) else out
        else:
            for i, (is_dense, indices, values) in enumerate(zip(dense, column["indices"], column["values"])):
                if is_dense:
                    out[i] = values
                else:
                    out[i, np.asarray(indices, dtype=np.int64)] = values
        return out.reshape((-1,) + tuple(shape))
    values = column.to_numpy()
    if values.dtype == object:
        values = np.stack([np.asarray(v, dtype=np.float32) for v in values]) if len(values) else \
            np.zeros((0, int(np.prod(shape))), dtype=np.float32)
    return np.asarray(values, dtype=np.float32).reshape((-1,) + tuple(shape))


def evaluate_blocks(handle, blocks, batch_size):
    """Every compiled metric's state after Keras's test_step over the blocks (additive
    across partitions, so sums of them are exact), or None for no rows."""
    wm = handle.worker_model()
    built = False
    for xs, y, *w in blocks:
        if not built:
            wm.build(model_input([x[:1] for x in xs]), slice_rows(y, 0, 1))
            wm.reset_metrics()
            built = True
        for i in range(0, rows_of(y), batch_size):
            wm.test_step(model_input([x[i:i + batch_size] for x in xs]), slice_rows(y, i, i + batch_size),
                         *[a[i:i + batch_size] for a in w])
    return wm.metric_states() if built else None


def states_to_bytes(states):
    """Metric states as .npz bytes: numbers only, readable without unpickling anything."""
    buffer = io.BytesIO()
    np.savez(buffer, **{f"{i}_{j}": v for i, metric in enumerate(states) for j, v in enumerate(metric)},
             shape=np.array([len(m) for m in states]))
    return buffer.getvalue()


def states_from_bytes(payload):
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        return [[data[f"{i}_{j}"] for j in range(int(n))] for i, n in enumerate(data["shape"])]

