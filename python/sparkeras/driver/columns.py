"""The Spark ML column contract, checked on the driver: which feature and label columns
a Keras stage accepts, and how they become the flat numeric arrays f0..fk and y that
the workers read through Arrow batches. The Scala stages accept the same (Rows.scala).

Features: a Spark ML Vector, an array of numbers (nested arrays are flattened and
reshaped to the model's input in the worker), or a single number; for a model input of
shape (height, width, channels), also images: Spark's `image` struct, binary file content
or a path, decoded on the executors to RGB values 0-255 at the input's size (driver/images.py).
Labels: a number (integral types as long, others as float), a Vector, or an array of numbers.
A number under categorical cross-entropy is a class index, one-hot encoded to the model's
output width (as elephas's `categorical` does).
"""
import numpy as np
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkeras.driver import images
from sparkeras.driver.model_spec import check_sample, input_shapes, loss_name, output_width
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


def feature_expr(df, name, shape=None):
    """Column `name` as a flat array<float>, after checking it exists and has a type Keras can take
    (image columns need the model input's `shape`, (height, width, channels))."""
    dtype = _column_type(df, name, "feature")
    image_input = shape is not None and len(shape) == 3 and shape[2] in (1, 3)
    if image_input and images.is_image_column(dtype):
        return images.pixels_udf(tuple(shape))(F.col(name))
    if images.is_image_struct(dtype):
        raise ModelSpecError(f"feature column {name!r} holds images, but the model input it feeds has shape {shape}; "
                             "images feed an input of shape (height, width, 1 or 3 channels)")
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
        "an array of numbers (nested arrays for images or sequences), a number, or images (Spark's image struct, "
        "binary file content or a path) for an input of shape (height, width, channels)")


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


def one_hot_expr(df, name, classes):
    """Class indices in column `name` as one-hot array<float> of width `classes`; an index that
    is not a whole number in [0, classes) fails the job with a message naming it."""
    dtype = _column_type(df, name, "label")
    if not isinstance(dtype, T.NumericType):
        raise ModelSpecError(f"label column {name!r} has type {dtype.simpleString()}; one-hot encoding needs class "
                             f"indices (numbers in [0, {classes}))")
    index = F.col(name).cast("double")
    bad = index.isNull() | (index < 0) | (index >= classes) | (index != F.floor(index))
    one_hot = F.transform(F.sequence(F.lit(0), F.lit(classes - 1)), lambda i: (i == index).cast("float"))
    return F.when(bad, F.raise_error(F.concat(F.lit(f"label column {name!r} holds "), index.cast("string"),
                                              F.lit(f", which is not a class index in [0, {classes})")))
                  ).otherwise(one_hot)


def _one_hot_classes(df, model, label):
    """The width to one-hot encode scalar class indices to, when the model's loss is
    categorical cross-entropy (which wants one-hot labels); None otherwise."""
    dtype = _column_type(df, label, "label")
    loss = loss_name(model) if getattr(model, "loss", None) is not None else ""
    if isinstance(dtype, T.NumericType) and "categorical_crossentropy" in loss and "sparse" not in loss:
        width = output_width(model)
        return width if width > 1 else None
    return None


def as_array_columns(df, features, label=None, one_hot=None, shapes=None):
    """The feature (and label) columns as flat numeric arrays named f0..fk (and y); with
    `one_hot`, a scalar class-index label becomes a one-hot array of that width. `shapes`:
    the model inputs' shapes, which image columns are decoded to."""
    shapes = list(shapes or [])[:len(features)] + [None] * max(0, len(features) - len(shapes or []))
    selected = [feature_expr(df, name, shape).alias(f"f{i}") for i, (name, shape) in enumerate(zip(features, shapes))]
    if label is not None:
        selected.append((one_hot_expr(df, label, one_hot) if one_hot else label_expr(df, label)).alias("y"))
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
    one_hot = _one_hot_classes(dataset, model, label) if label is not None else None
    arrays = as_array_columns(dataset, features, label, one_hot, shapes=input_shapes(model))
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
