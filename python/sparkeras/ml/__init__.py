"""Spark ML stages for Keras models: `KerasEstimator` and `KerasModel`; for images and
arrays, `KerasImageFileTransformer`, `DeepImageFeaturizer` and `KerasTransformer`."""
from sparkeras.ml.estimator import KerasEstimator, KerasModel
from sparkeras.ml.images import DeepImageFeaturizer, KerasImageFileTransformer, KerasTransformer
from sparkeras.ml.sql import predict_udf, register_image_udf, register_udf

__all__ = ["KerasEstimator", "KerasModel", "KerasImageFileTransformer", "DeepImageFeaturizer", "KerasTransformer",
           "predict_udf", "register_udf", "register_image_udf"]
