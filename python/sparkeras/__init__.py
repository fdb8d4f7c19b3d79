"""sparkeras: distributed training and inference of Keras models on Apache Spark."""
from sparkeras._version import __version__
from sparkeras.model_spec import ModelSpecError
from sparkeras.session import spark_session
from sparkeras.spark_model import (AsynchronousSparkModel, History, SparkMLlibModel, SparkModel, TrainingFailed,
                                   load_spark_model)
from sparkeras.utils.rdd_utils import to_simple_rdd



def register_udf(spark, name, model, batch_size=1024):
    """Makes a trained model callable from SQL; see sparkeras.ml.sql.register_udf."""
    from sparkeras.ml.sql import register_udf as register
    return register(spark, name, model, batch_size)


__all__ = ["SparkModel", "AsynchronousSparkModel", "SparkMLlibModel", "TrainingFailed", "register_udf", "History", "load_spark_model", "to_simple_rdd",
           "ModelSpecError", "spark_session", "__version__"]
