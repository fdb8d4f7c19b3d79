"""sparkeras: distributed training and inference of Keras models on Apache Spark.

The public names load lazily (PEP 562): an executor that imports a sparkeras module
to run a task gets the executor layer only, never the driver's API.
"""
import importlib

from sparkeras._version import __version__
from sparkeras.errors import ModelSpecError, SparkerasError, TrainingFailed, UnsafeLoadRefused
from sparkeras.quiet import quiet_tensorflow

quiet_tensorflow()  # before anything imports TensorFlow, here and in every worker (see sparkeras.quiet)

_LAZY = {
    "SparkModel": "sparkeras.model",
    "AsynchronousSparkModel": "sparkeras.model",
    "SparkMLlibModel": "sparkeras.model",
    "load_spark_model": "sparkeras.model",
    "History": "sparkeras.driver.history",
    "to_simple_rdd": "sparkeras.utils.rdd_utils",
    "spark_session": "sparkeras.driver.session",
    "register_udf": "sparkeras.ml.sql",
    "register_image_udf": "sparkeras.ml.sql",
}

__all__ = sorted(_LAZY) + ["ModelSpecError", "SparkerasError", "TrainingFailed", "UnsafeLoadRefused", "__version__"]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sparkeras' has no attribute {name!r}")


def __dir__():
    return __all__
