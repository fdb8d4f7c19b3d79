"""Inference orchestration: the model's weights broadcast once, predictions and exact
metric states computed by the executors through the one stage launcher, and the
pandas UDF behind KerasModel.transform and SQL."""
import contextlib
import io
import uuid

import numpy as np

from sparkeras.driver import bridge, model_spec, stage
from sparkeras.driver.session import task_threads
from sparkeras.errors import ModelSpecError
from sparkeras.executor import inference


@contextlib.contextmanager
def broadcast_model(sc, model, custom_objects=None, threads=None):
    """A ModelHandle whose weights are broadcast for the duration of the block; Spark's
    console bar is paused meanwhile (predict and evaluate return in seconds, and the bar's
    half-drawn lines would be left among the caller's output)."""
    weights = sc.broadcast(model.get_weights())
    paused = bridge.pause_console_progress(sc)
    try:
        yield model_handle(model, weights, custom_objects, task_threads(sc, threads))
    finally:
        paused.close()
        weights.unpersist()


def model_handle(model, weights, custom_objects=None, threads=1):
    compiled = model_spec.compile_json(model) if getattr(model, "compiled", False) else ""
    return inference.ModelHandle(uuid.uuid4().hex, weights, model_spec.model_json(model), compiled,
                                 custom_objects, threads)


def predict(model, source, workers, batch_size, custom_objects=None, threads=None):
    """Predictions for every row of `source`, in order: one numpy array, or a list of them
    (one per output, as Keras's predict gives) for a model with several outputs."""
    n_out = len(model.outputs)
    with broadcast_model(source.context, model, custom_objects, threads) as handle:
        def work(blocks, partition, attempt):
            parts = list(inference.predict_blocks(handle, blocks, batch_size))
            per_output = [[p[k] for p in parts] if n_out > 1 else parts for k in range(n_out)]
            buffer = io.BytesIO()  # .npz: numbers only, read back without unpickling
            np.savez(buffer, *[np.concatenate(p) if p else np.zeros((0, 0), np.float32) for p in per_output])
            return buffer.getvalue()
        parts = []
        for payload in stage.run(source, work, workers):
            with np.load(io.BytesIO(payload), allow_pickle=False) as data:
                parts.append([data[f"arr_{k}"] for k in range(n_out)])
    outputs = []
    for k in range(n_out):
        pieces = [p[k] for p in parts if len(p[k])]
        outputs.append(np.concatenate(pieces) if pieces
                       else np.zeros((0,) + tuple(model.outputs[k].shape[1:]), dtype=np.float32))
    return outputs if n_out > 1 else outputs[0]


def evaluate(model, source, workers, batch_size, sample, return_dict, custom_objects=None, threads=None):
    """What `model.evaluate` returns over `source`: metric states are summed across
    partitions, so the result equals Keras's on the same data. `sample` is one (x, y) row."""
    model_spec.check_compiled(model)
    with broadcast_model(source.context, model, custom_objects, threads) as handle:
        def work(blocks, partition, attempt):
            states = inference.evaluate_blocks(handle, blocks, batch_size)
            return b"" if states is None else inference.states_to_bytes(states)
        states = [inference.states_from_bytes(s) for s in stage.run(source, work, workers) if s]
    if not states:
        raise ModelSpecError("the evaluation data is empty")
    return combine_metric_states(model, states, sample, return_dict)


def combine_metric_states(model, states, sample, return_dict):
    """Sums every partition's metric variables into the driver model's metrics and reads them."""
    x0, y0 = sample
    def first(v):  # one row, per input or per output
        return [np.asarray(a)[None] for a in v] if isinstance(v, (list, tuple)) else np.asarray(v)[None]
    model.test_step((first(x0), first(y0)))  # builds the compiled metrics if evaluate never ran here
    metrics = model.metrics
    for m in metrics:
        m.reset_state()
    for i, m in enumerate(metrics):
        for j, v in enumerate(m.variables):
            v.assign(np.sum([s[i][j] for s in states], axis=0).astype(v.dtype))
    results = {k: float(np.asarray(v)) for k, v in model.get_metrics_result().items()}
    for m in metrics:
        m.reset_state()
    if return_dict:
        return results
    values = list(results.values())
    return values[0] if len(values) == 1 else values


def shipped_weights(spark, model):
    """A model's weights for a UDF: broadcast in a classic session; inside the UDF itself from a
    Spark Connect client, which has no SparkContext (the server's Python workers unpickle them
    with the function)."""
    from pyspark.sql import is_remote
    return model.get_weights() if is_remote() else spark.sparkContext.broadcast(model.get_weights())


def predict_udf(spark, model, custom_objects=None, batch_size=1024):
    """A pandas UDF (Arrow batches) computing the model's raw output as array<float>, one
    argument per model input: arrays of numbers, numbers, or Spark ML Vectors (what
    VectorAssembler makes), with the model built once per Python worker and run on at most
    `batch_size` rows at a time."""
    import typing

    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    handle = model_handle(model, shipped_weights(spark, model), custom_objects, 1)
    shapes = model_spec.input_shapes(model)

    def predict(batches):
        for columns in batches:
            columns = columns if isinstance(columns, tuple) else (columns,)
            xs = [inference.rows_as_array(c, shape) for c, shape in zip(columns, shapes)]
            outs = [inference.predict_array(handle, [x[i:i + batch_size] for x in xs])
                    for i in range(0, len(xs[0]), batch_size)]
            yield pd.Series(list(np.concatenate(outs)) if outs else [], dtype=object)

    # pyspark tells a one-column iterator UDF from a several-column one by its type hints
    batch = pd.Series if len(shapes) == 1 else typing.Tuple[tuple([pd.Series] * len(shapes))]
    predict.__annotations__ = {"batches": typing.Iterator[batch], "return": typing.Iterator[pd.Series]}
    return pandas_udf(predict, ArrayType(FloatType()))
