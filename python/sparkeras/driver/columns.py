"""The Spark ML column contract, checked on the driver: which feature and label columns
a Keras stage accepts, and how they become the flat numeric arrays f0..fk and y that
the workers read through Arrow batches. The Scala stages accept the same (Rows.scala).

Features: a Spark ML Vector, an array of numbers (nested arrays are flattened and
reshaped to the model's input in the worker), or a single number.
Labels: a number (integral types as long, others as float), a Vector, or an array of numbers.
"""
import numpy as np
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkeras.driver.model_spec import check_sample, input_shapes
from sparkeras.driver.stage import FrameSource
from sparkeras.errors import ModelSpecError


def feature_columns(cols):
    return [cols] if isinstance(cols, str) else list(cols)


def _is_vector(dtype):
    return isinstance(dtype, VectorUDT)


def _numeric_leaf(dtype):
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
    dtype = _column_type(df, name, "label")
    if _is_vector(dtype):
        return vector_to_array(F.col(name), "float32")
    if isinstance(dtype, T.ArrayType) and _numeric_leaf(dtype):
        return F.col(name).cast("array<float>")
    if isinstance(dtype, T.IntegralType):
        return F.col(name).cast("long")
    if isinstance(dtype, T.NumericType):
        return F.col(name).cast("float")
    raise ModelSpecError(
        f"label column {name!r} has type {dtype.simpleString()}; expected a number, a Vector or an array of numbers")


def as_array_columns(df, features, label=None):
    """The feature (and label) columns as flat numeric arrays named f0..fk (and y)."""
    selected = [feature_expr(df, name).alias(f"f{i}") for i, name in enumerate(features)]
    if label is not None:
        selected.append(label_expr(df, label).alias("y"))
    return df.select(*selected)


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


def frame_source(dataset, model, features, label=None, where=None):
    """A stage source over `dataset`'s feature (and label) columns, checked against the
    model on the first row; also returns that row as (x, y) for the driver's own use."""
    arrays = as_array_columns(dataset, features, label)
    first = arrays.limit(1).collect()
    if not first:
        raise ModelSpecError("the DataFrame is empty: there is nothing to train or evaluate on")
    check_widths(first[0], model, features)
    shapes = input_shapes(model)
    xs = [np.asarray(first[0][f"f{i}"], np.float32).reshape(shape) for i, shape in enumerate(shapes)]
    y = np.asarray(first[0]["y"]) if label is not None else None
    if label is not None and len(shapes) == 1:
        check_sample(model, xs[0], y, where=where or f"column {label!r}")
    return FrameSource(arrays, shapes, with_labels=label is not None), (xs[0] if len(xs) == 1 else xs, y)
