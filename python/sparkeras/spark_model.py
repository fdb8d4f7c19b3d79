"""elephas's `elephas.spark_model`, at the same path: `SparkModel`, `AsynchronousSparkModel`,
`SparkMLlibModel`, `load_spark_model`.

These are sparkeras's own classes (`sparkeras.model`) with elephas's return types:
`predict` returns a list with one array per row, as elephas's does, where sparkeras's
own `SparkModel` (`from sparkeras import SparkModel`) returns one numpy array, as Keras does.
"""
from sparkeras import model as native
from sparkeras.driver.history import History
from sparkeras.errors import TrainingFailed

__all__ = ["SparkModel", "AsynchronousSparkModel", "SparkMLlibModel", "load_spark_model", "History", "TrainingFailed"]


class _ElephasPredictions:
    def predict(self, data, batch_size=None, **kwargs):
        """Predictions for a numpy array or an RDD of feature rows, computed on the
        executors: a list with one numpy array per row, as elephas returns them."""
        return list(super().predict(data, batch_size, **kwargs))


class SparkModel(_ElephasPredictions, native.SparkModel):
    __doc__ = native.SparkModel.__doc__


class AsynchronousSparkModel(_ElephasPredictions, native.AsynchronousSparkModel):
    __doc__ = native.AsynchronousSparkModel.__doc__


class SparkMLlibModel(native.SparkMLlibModel):
    __doc__ = native.SparkMLlibModel.__doc__


def load_spark_model(file_name, custom_objects=None):
    """Loads what `SparkModel.save` (sparkeras's or elephas's) wrote, as the elephas class
    that saved it: the Keras model with its weights and the distributed settings."""
    return native.load_as(file_name, custom_objects, {c.__name__: c for c in (SparkModel, AsynchronousSparkModel,
                                                                              SparkMLlibModel)})
