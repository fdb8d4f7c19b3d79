"""Spark ML stages for Keras models: `KerasEstimator` and `KerasModel`."""
from sparkeras.ml.estimator import KerasEstimator, KerasModel
from sparkeras.ml.sql import predict_udf, register_udf

__all__ = ["KerasEstimator", "KerasModel", "predict_udf", "register_udf"]
