"""Trained models callable from Spark SQL."""
from sparkeras.ml import data
from sparkeras.ml.estimator import KerasModel, predict_udf


def register_udf(spark, name, model, batch_size=1024):
    """Registers `name` as a SQL function returning the model's raw output (array<float>)
    for array<float> arguments, one per model input, batched through Arrow:

        SELECT name(pixels) FROM images
    """
    keras_model = model.keras_model if isinstance(model, KerasModel) else model
    custom = model.getCustomObjects() if isinstance(model, KerasModel) else None
    udf = predict_udf(spark, keras_model, len(data.input_shapes(keras_model)), custom, batch_size=batch_size)
    return spark.udf.register(name, udf)
