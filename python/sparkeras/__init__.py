"""sparkeras: distributed training and inference of Keras models on Apache Spark."""
from sparkeras._version import __version__
from sparkeras.model_spec import ModelSpecError
from sparkeras.session import spark_session
from sparkeras.spark_model import AsynchronousSparkModel, History, SparkModel, load_spark_model
from sparkeras.utils.rdd_utils import to_simple_rdd

__all__ = ["SparkModel", "AsynchronousSparkModel", "History", "load_spark_model", "to_simple_rdd",
           "ModelSpecError", "spark_session", "__version__"]
