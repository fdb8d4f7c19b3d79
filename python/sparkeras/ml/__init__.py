"""Spark ML stages for Keras models: `KerasEstimator` and `KerasModel`."""
from sparkeras.ml.estimator import KerasEstimator, KerasModel, predict_udf
from sparkeras.ml.sql import register_udf

__all__ = ["KerasEstimator", "KerasModel", "predict_udf", "register_udf"]
