"""Trained models callable from Spark SQL, and the pandas UDF behind them."""
from sparkeras.driver import images, inference
from sparkeras.errors import ModelSpecError
from sparkeras.ml import connect
from sparkeras.ml.estimator import KerasModel


def _keras(model):
    """The Keras model (and custom objects) behind what a caller passed."""
    if isinstance(model, KerasModel):
        return model.keras_model, model.getCustomObjects()
    if isinstance(model, connect.RemoteKerasModel):
        raise ModelSpecError("this KerasModel lives in the Spark Connect server, and a SQL function needs the Keras "
                             "model in this process: pass a Keras model (keras.models.load_model('model.keras')), or "
                             "apply the fitted model with its transform()")
    return model, None


def predict_udf(spark, model, n_inputs=None, custom_objects=None, batch_size=1024):
    """A pandas UDF returning the model's raw output (array<float>), one flat array
    argument per model input (`n_inputs` is implied by the model and kept for callers)."""
    return inference.predict_udf(spark, model, custom_objects, batch_size)


def register_udf(spark, name, model, batch_size=1024):
    """Registers `name` as a SQL function returning the model's raw output (array<float>)
    for array<float> arguments, one per model input, batched through Arrow:

        SELECT name(pixels) FROM images
    """
    keras_model, custom = _keras(model)
    return spark.udf.register(name, inference.predict_udf(spark, keras_model, custom, batch_size))


def register_image_udf(spark, name, model, preprocessing="none", channel_order="RGB", batch_size=256):
    """Registers `name` as a SQL function returning the model's raw output (array<float>) for
    an image: Spark's image struct (spark.read.format("image")'s `image` column), binary file
    content (binaryFile's `content`) or a local path, decoded, resized to the model's input,
    put in `channel_order` and scaled by `preprocessing` ('none', 'unit', 'symmetric' or a
    keras.applications module name) on the executors, in Arrow batches:

        SELECT path, name(image) FROM images
    """
    keras_model, custom = _keras(model)
    return spark.udf.register(name, images.predict_udf(spark, keras_model, channel_order, preprocessing, custom,
                                                       batch_size))
