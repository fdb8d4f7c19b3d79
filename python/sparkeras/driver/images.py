"""Image columns on the driver: which columns hold images (Spark's `image` struct, binary
file content, paths), the model input they feed, and the pandas UDFs (Arrow batches) that
decode them on the executors: to flat pixel arrays for training, or straight through a
model for predictions and features."""
import typing

import numpy as np
from pyspark.sql import types as T

from sparkeras.driver import model_spec
from sparkeras.driver.inference import model_handle, shipped_weights
from sparkeras.errors import ModelSpecError
from sparkeras.executor import images as decoding
from sparkeras.executor import inference

IMAGE_FIELDS = decoding.IMAGE_FIELDS


def is_image_struct(dtype):
    """Spark's image struct (spark.read.format('image')'s `image` column)."""
    return isinstance(dtype, T.StructType) and set(IMAGE_FIELDS) <= {f.name for f in dtype.fields}


def is_image_column(dtype):
    """An image struct, or binary content (binaryFile's `content`), or a string (a path)."""
    return is_image_struct(dtype) or isinstance(dtype, (T.BinaryType, T.StringType))


def image_shape(model, what="the model"):
    """(height, width, channels) of a model with one image input (rank 3 per row, 1 or 3 channels)."""
    shapes = model_spec.input_shapes(model)
    if len(shapes) != 1 or len(shapes[0]) != 3 or shapes[0][2] not in (1, 3) or None in shapes[0]:
        raise ModelSpecError(f"{what} must take one image input of shape (height, width, 1 or 3 channels); its inputs "
                             f"are {shapes}")
    return tuple(int(s) for s in shapes[0])


def check_options(order, preprocessing):
    """Fails on the driver, before any Spark work, for an unknown channel order or preprocessing
    (a name, or a function of a (rows, height, width, channels) float32 batch)."""
    if str(order).upper() not in ("RGB", "BGR"):
        raise ModelSpecError(f"channelOrder must be 'RGB' or 'BGR'; got {order!r}")
    if preprocessing in (None, *decoding.SCALINGS) or callable(preprocessing):
        return
    import keras
    if not hasattr(getattr(keras.applications, str(preprocessing), None), "preprocess_input"):
        raise ModelSpecError(f"preprocessing must be one of {', '.join(decoding.SCALINGS)} or the name of a "
                             f"keras.applications module (resnet50, mobilenet_v2, vgg16, ...); got {preprocessing!r}")


def pixels_udf(shape, order="RGB", preprocessing=None):
    """A pandas UDF: an image column as flat array<float> (height * width * channels per row),
    decoded, resized, ordered and preprocessed on the executors, a batch at a time."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    height, width, channels = shape

    def pixels(batches: typing.Iterator[pd.Series]) -> typing.Iterator[pd.Series]:
        for column in batches:
            batch = decoding.preprocess(decoding.decode(column, height, width, channels, order), preprocessing)
            yield pd.Series(list(batch.reshape(len(batch), -1)), dtype=object)
    return pandas_udf(pixels, T.ArrayType(T.FloatType()))


def predict_udf(spark, model, order="RGB", preprocessing=None, custom_objects=None, batch_size=256):
    """A pandas UDF: the model's raw output (array<float>) for an image column, decoding and
    predicting in the same Arrow batch, with the model built once per Python worker."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    check_options(order, preprocessing)
    height, width, channels = image_shape(model)
    handle = model_handle(model, shipped_weights(spark, model), custom_objects, 1)

    def predict(batches: typing.Iterator[pd.Series]) -> typing.Iterator[pd.Series]:
        for column in batches:
            outs = []
            for i in range(0, len(column), batch_size):
                part = column.iloc[i:i + batch_size]
                pixels = decoding.decode(part, height, width, channels, order)
                pixels = np.asarray(preprocessing(pixels), np.float32) if callable(preprocessing) \
                    else decoding.preprocess(pixels, preprocessing)
                outs.append(inference.predict_array(handle, [pixels]))
            yield pd.Series(list(np.concatenate(outs)) if outs else [], dtype=object)
    return pandas_udf(predict, T.ArrayType(T.FloatType()))


def feature_model(model, layer_name=None):
    """`model` cut at `layer_name`, or by default at the input of its last Dense layer (the
    classifier); a cut that leaves feature maps (rank > 2) gets global average pooling, so
    every row becomes one feature vector."""
    import keras
    if layer_name:
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            names = [l.name for l in model.layers]
            raise ModelSpecError(f"the model has no layer {layer_name!r}; its layers: {', '.join(names)}") from None
        output = layer.output
    else:
        dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
        if not dense:
            output = model.outputs[0]  # a headless network: its own output
        else:
            output = dense[-1].input
    if len(output.shape) > 2:
        output = keras.layers.GlobalAveragePooling2D(name="sparkeras_features_pool")(output) if len(output.shape) == 4 \
            else keras.layers.Flatten(name="sparkeras_features_flat")(output)
    return keras.Model(model.inputs, output, name=f"{model.name}_features")
