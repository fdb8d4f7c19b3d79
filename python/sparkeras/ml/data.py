"""DataFrame columns to numpy on the executors: validation on the driver, Arrow batches
to arrays in the workers. Rows never pass through the driver."""
import numpy as np

from sparkeras.model_spec import ModelSpecError


def feature_columns(cols):
    return [cols] if isinstance(cols, str) else list(cols)


def _is_vector(dtype):
    from pyspark.ml.linalg import VectorUDT
    return isinstance(dtype, VectorUDT)


def _numeric_leaf(dtype):
    from pyspark.sql import types as T
    while isinstance(dtype, T.ArrayType):
        dtype = dtype.elementType
    return isinstance(dtype, T.NumericType)


def _column_type(df, name, role):
    fields = {f.name: f.dataType for f in df.schema.fields}
    if name not in fields:
        raise ModelSpecError(f"{role} column {name!r} is not in the DataFrame; its columns are {sorted(fields)}")
    return fields[name]


def feature_expr(df, name):
    """Column `name` as a flat array<float>, after checking it exists and has a type Keras can take."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    dtype = _column_type(df, name, "feature")
    if _is_vector(dtype):
        return vector_to_array(F.col(name), "float32")
    if isinstance(dtype, T.ArrayType) and _numeric_leaf(dtype):
        col = F.col(name)
        while isinstance(dtype.elementType, T.ArrayType):  # nested arrays: flattened here, reshaped in the worker
            col, dtype = F.flatten(col), dtype.elementType
        return col.cast("array<float>")
    if isinstance(dtype, T.NumericType):
        return F.array(F.col(name).cast("float"))
    raise ModelSpecError(
        f"feature column {name!r} has type {dtype.simpleString()}; expected a Spark ML Vector, "
        "an array of numbers (nested arrays for images or sequences) or a number")


def label_expr(df, name):
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    dtype = _column_type(df, name, "label")
    if _is_vector(dtype):
        return vector_to_array(F.col(name), "float32")
    if isinstance(dtype, T.ArrayType) and _numeric_leaf(dtype):
        return F.col(name).cast("array<float>")
    if isinstance(dtype, T.NumericType):
        return F.col(name)
    raise ModelSpecError(
        f"label column {name!r} has type {dtype.simpleString()}; expected a number, a Vector or an array of numbers")


def as_array_columns(df, features, label=None):
    """The feature (and label) columns as flat numeric arrays named f0..fk (and y)."""
    selected = [feature_expr(df, name).alias(f"f{i}") for i, name in enumerate(features)]
    if label is not None:
        selected.append(label_expr(df, label).alias("y"))
    return df.select(*selected)


def input_shapes(model):
    """Per-row shape of each model input, e.g. [(784,)] or [(28, 28, 1), (10,)]."""
    return [tuple(int(d) for d in t.shape[1:]) for t in model.inputs]


def check_widths(first_row, model, features):
    """Each feature column's width against the model input it feeds."""
    shapes = input_shapes(model)
    if len(shapes) != len(features):
        raise ModelSpecError(
            f"the model has {len(shapes)} input(s) but {len(features)} feature column(s) were given: {features}")
    for i, (name, shape) in enumerate(zip(features, shapes)):
        width = len(first_row[f"f{i}"])
        if width != int(np.prod(shape)):
            raise ModelSpecError(
                f"feature column {name!r} holds {width} values per row but the model input {i} expects shape {shape} "
                f"({int(np.prod(shape))} values)")


def arrays_from_batches(batches, n_features, shapes, with_label=True):
    """Stacks Arrow record batches of f0..fk (and y) into numpy arrays shaped for the model."""
    import pyarrow as pa
    xs = [[] for _ in range(n_features)]
    ys = []
    for batch in batches:
        if batch.num_rows == 0:
            continue
        for i in range(n_features):
            col = batch.column(f"f{i}")
            values = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
            xs[i].append(values.reshape((batch.num_rows,) + shapes[i]))
        if with_label:
            y = batch.column("y")
            if pa.types.is_list(y.type):
                ys.append(y.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(batch.num_rows, -1))
            else:
                ys.append(y.to_numpy(zero_copy_only=False))
    if not xs[0]:
        return None, None
    x = [np.concatenate(parts) for parts in xs]
    y = np.concatenate(ys) if with_label else None
    if y is not None and y.dtype.kind == "f":
        y = y.astype(np.float32)
    return (x[0] if n_features == 1 else x), y
