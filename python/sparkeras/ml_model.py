"""elephas's Spark ML API at its module path: `ElephasEstimator`, `ElephasTransformer`,
`load_ml_estimator`, `load_ml_transformer`, backed by sparkeras's KerasEstimator.

Unlike elephas, every setting is honoured (elephas's estimator ignores `mode`), and both
stages are also Spark ML MLWritable/MLReadable, so a Pipeline holding them saves and loads.
`save(file)` writes elephas's own format: an HDF5 file whose `distributed_config`
attribute is the stage's configuration as JSON (weights as nested lists), readable by
elephas and by `load_ml_estimator`/`load_ml_transformer`.
"""
import json
import os
import warnings

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasLabelCol, HasOutputCol

from sparkeras.driver import columns, inference, model_spec, session
from sparkeras.errors import ModelSpecError
from sparkeras.ml import persistence
from sparkeras.ml.estimator import KerasEstimator
from sparkeras.ml.params import (HasBatchSize, HasCategoricalLabels, HasCustomObjects, HasEpochs, HasFrequency,
                                 HasInferenceBatchSize, HasKerasModelConfig, HasKerasOptimizerConfig, HasLoss,
                                 HasMetrics, HasMode, HasNumberOfClasses, HasNumberOfWorkers, HasValidationSplit,
                                 HasVerbosity)
from sparkeras.utils.model_utils import LossModelTypeMapper, ModelType, ModelTypeEncoder, as_enum

__all__ = ["ElephasEstimator", "ElephasTransformer", "load_ml_estimator", "load_ml_transformer"]

_CONFIG_ATTRIBUTE = "distributed_config"


class _ElephasStage:
    """What both elephas stages share: the column setters elephas deprecates in favour of
    constructor arguments (deprecated here too), and the name persistence reads custom objects by."""

    def getCustomObjects(self):
        return self.get_custom_objects()

    def _deprecated(self, name, value):
        warnings.warn(f"set{name[0].upper()}{name[1:]} is deprecated, as in elephas: give {name} to the constructor, "
                      f"e.g. {type(self).__name__}({name}={value!r})", DeprecationWarning, stacklevel=3)
        return self._set(**{name: value})

    def setFeaturesCol(self, value):
        return self._deprecated("featuresCol", value)

    def setLabelCol(self, value):
        return self._deprecated("labelCol", value)

    def setOutputCol(self, value):
        return self._deprecated("outputCol", value)


def _write_hdf5(file_name, stage, config):
    import h5py
    with h5py.File(file_name, mode="w") as f:
        f.attrs[_CONFIG_ATTRIBUTE] = json.dumps({"class_name": type(stage).__name__, "config": config},
                                                cls=ModelTypeEncoder).encode("utf8")


def _read_hdf5(file_name):
    import h5py
    with h5py.File(file_name, mode="r") as f:
        if _CONFIG_ATTRIBUTE not in f.attrs:
            raise ModelSpecError(f"{file_name} is an HDF5 file without elephas's {_CONFIG_ATTRIBUTE!r} attribute: it "
                                 "was not written by ElephasEstimator.save or ElephasTransformer.save")
        return json.loads(f.attrs[_CONFIG_ATTRIBUTE], object_hook=as_enum)["config"]


def _is_spark_ml_directory(path):
    return not os.path.isfile(path[len("file://"):] if path.startswith("file://") else path)


class ElephasEstimator(Estimator, HasCategoricalLabels, HasValidationSplit, HasKerasModelConfig, HasFeaturesCol,
                       HasLabelCol, HasMode, HasEpochs, HasBatchSize, HasFrequency, HasVerbosity, HasNumberOfClasses,
                       HasNumberOfWorkers, HasOutputCol, HasLoss, HasMetrics, HasKerasOptimizerConfig,
                       HasCustomObjects, HasInferenceBatchSize, _ElephasStage, persistence.KerasReadWrite):
    """elephas's estimator: `ElephasEstimator(**params)`, `ElephasEstimator(model, epochs=...)`,
    or a bare `ElephasEstimator()` configured with its `set_*` methods. Fitting trains through
    sparkeras's parameter server and returns an `ElephasTransformer`.

    With `categorical=True` (the default) the label column holds class indices, one-hot
    encoded to `nb_classes` for training. `num_workers` defaults to 8, as in elephas; left
    at that default it is capped at the cluster's task slots.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()
        self._setDefault(outputCol="prediction")
        self.keras_model = None  # the model given positionally: its architecture, compile settings and weights
        if args:
            model = args[0]
            kwargs.setdefault("keras_model_config", model.to_json())
            if getattr(model, "optimizer", None) is not None:
                import keras
                kwargs.setdefault("optimizer_config", keras.optimizers.serialize(model.optimizer))
            if getattr(model, "loss", None) is not None:
                kwargs.setdefault("loss", model.loss)
            self.keras_model = model
        self._set(**kwargs)

    @keyword_only
    def set_params(self, **kwargs):
        """Sets any of the estimator's Params by name."""
        return self._set(**kwargs)

    def get_config(self):
        """elephas's configuration dictionary (what `save` writes and `load_ml_estimator` reads);
        sparkeras adds the optimizer, which elephas loses on save."""
        config = {"keras_model_config": self.get_keras_model_config() if self.isDefined(self.keras_model_config)
                  else None,
                  "mode": self.get_mode(), "frequency": self.get_frequency(), "num_workers": self.get_num_workers(),
                  "categorical": self.get_categorical_labels(),
                  "loss": self.get_loss() if self.isDefined(self.loss) else None,
                  "metrics": self.get_metrics(), "validation_split": self.get_validation_split(),
                  "featuresCol": self.getFeaturesCol(), "labelCol": self.getLabelCol(), "epochs": self.get_epochs(),
                  "batch_size": self.get_batch_size(), "verbose": self.get_verbosity(),
                  "nb_classes": self.get_nb_classes(), "outputCol": self.getOutputCol(),
                  "optimizer_config": self.get_optimizer_config()}
        return {k: v for k, v in config.items() if v is not None}

    def save(self, path):
        """elephas's HDF5 file with the configuration (no weights, as in elephas). A Pipeline
        holding the estimator saves it as a Spark ML directory (`write().save(path)`)."""
        _write_hdf5(path, self, self.get_config())

    @classmethod
    def load(cls, path, allow_pickle=False):
        """An estimator from elephas's HDF5 file or from a Spark ML directory."""
        if _is_spark_ml_directory(path):
            return super().load(path, allow_pickle)
        return cls(**_read_hdf5(path))

    def get_model(self):
        """The Keras model the configuration describes (uncompiled, fresh weights, as in elephas)."""
        if not self.isDefined(self.keras_model_config):
            raise ModelSpecError("ElephasEstimator has no model: set_keras_model_config(model.to_json()) first")
        import keras
        return keras.models.model_from_json(self.get_keras_model_config(), self.get_custom_objects() or None)

    def _compiled_model(self):
        import keras
        model = self.get_model()
        if self.keras_model is not None:
            model.set_weights(self.keras_model.get_weights())
        if not self.isDefined(self.loss):
            raise ModelSpecError("ElephasEstimator has no loss: set_loss('categorical_crossentropy') or another Keras "
                                 "loss first")
        optimizer = self.get_optimizer_config()
        with keras.utils.custom_object_scope(self.get_custom_objects() or {}):
            model.compile(optimizer=keras.optimizers.get(optimizer) if optimizer else "adam", loss=self.get_loss(),
                          metrics=self.get_metrics())
        return model

    def _workers(self, sc):
        if self.isSet(self.num_workers) or self.get_num_workers() is None:
            return self.get_num_workers()
        return min(int(self.get_num_workers()), session.task_slots(sc))

    def _fit(self, df):
        model = self._compiled_model()
        label = self.getLabelCol()
        frame = df
        if self.get_categorical_labels():
            label = "__sparkeras_onehot"
            frame = df.withColumn(label, columns.one_hot_expr(df, self.getLabelCol(), self.get_nb_classes()))
        estimator = KerasEstimator(model=model, featuresCol=self.getFeaturesCol(), labelCol=label,
                                   epochs=self.get_epochs(), batchSize=self.get_batch_size(), mode=self.get_mode(),
                                   frequency=self.get_frequency(), numWorkers=self._workers(df.sparkSession.sparkContext),
                                   validationSplit=self.get_validation_split(), verbose=self.get_verbosity(),
                                   customObjects=self.get_custom_objects())
        fitted = estimator.fit(frame)
        return ElephasTransformer(model=fitted.keras_model, featuresCol=self.getFeaturesCol(),
                                  labelCol=self.getLabelCol(), outputCol=self.getOutputCol(),
                                  custom_objects=self.get_custom_objects(),
                                  inference_batch_size=self.get_inference_batch_size(),
                                  model_type=LossModelTypeMapper().get_model_type(self.get_loss()),
                                  history=[fitted.history])


class ElephasTransformer(Model, HasKerasModelConfig, HasLabelCol, HasOutputCol, HasFeaturesCol, HasCustomObjects,
                         HasInferenceBatchSize, _ElephasStage, persistence.KerasReadWrite):
    """elephas's transformer: adds the model's output as `outputCol`, an array<double> of
    class probabilities for a classifier, a double for a one-output regressor.

    Build it the elephas way (`keras_model_config=model.to_json()`, `weights=...`,
    `model_type=ModelType...`) or with a Keras model (`model=...`).
    """
    modelType = Param(Params._dummy(), "modelType", "classification or regression (elephas's ModelType)",
                      typeConverter=TypeConverters.toString)

    @keyword_only
    def __init__(self, **kwargs):
        super().__init__()
        self._setDefault(outputCol="prediction", featuresCol="features", labelCol="label")
        kwargs = dict(self._input_kwargs)
        self._model = kwargs.pop("model", None)
        self.weights = kwargs.pop("weights", None)
        model_type = kwargs.pop("model_type", None)
        self._history = kwargs.pop("history", [])
        if model_type is not None:
            self.model_type = model_type
        self.set_params(**kwargs)

    @keyword_only
    def set_params(self, **kwargs):
        """Sets any of the transformer's Params by name (`inference_batch_size`, `outputCol`, ...)."""
        return self._set(**kwargs)

    @property
    def history(self):
        """The training history: a list holding the Keras History dictionary of the fit."""
        return self._history

    @property
    def model_type(self):
        if self.isDefined(self.modelType):
            return ModelType[self.getOrDefault(self.modelType).upper()]
        model = self.get_model()
        if getattr(model, "loss", None) is not None:
            return ModelType[model_spec.infer_task(model).upper()]
        return ModelType.CLASSIFICATION

    @model_type.setter
    def model_type(self, value):
        if not isinstance(value, ModelType):
            value = ModelType[str(value).upper()]
        self._set(modelType=value.name.lower())

    @property
    def keras_model(self):
        return self.get_model()

    @keras_model.setter
    def keras_model(self, model):
        self._model = model

    def get_model(self):
        """The Keras model: the one given, or built from keras_model_config (and weights)."""
        if self._model is None and self.isDefined(self.keras_model_config):
            import keras
            model = keras.models.model_from_json(self.get_keras_model_config(), self.get_custom_objects() or None)
            if self.weights is not None:
                model.set_weights(self.weights)
            self._model = model
        return self._model

    def get_config(self):
        """elephas's configuration dictionary (what `save` writes and `load_ml_transformer` reads)."""
        model = self.get_model()
        config = model.to_json() if model is not None else self.get_keras_model_config()
        return {"keras_model_config": config, "labelCol": self.getLabelCol(), "featuresCol": self.getFeaturesCol(),
                "outputCol": self.getOutputCol(),
                "weights": [w.tolist() for w in (model.get_weights() if model is not None else self.weights or [])],
                "model_type": self.model_type if model is not None or self.isDefined(self.modelType) else None,
                "inference_batch_size": self.get_inference_batch_size()}

    def save(self, path):
        """elephas's HDF5 file: configuration and weights as JSON in `distributed_config`. A
        Pipeline holding the transformer saves it as a Spark ML directory instead."""
        _write_hdf5(path, self, self.get_config())

    @classmethod
    def load(cls, path, allow_pickle=False):
        """A transformer from elephas's HDF5 file or from a Spark ML directory."""
        if _is_spark_ml_directory(path):
            return super().load(path, allow_pickle)
        return _transformer_from_config(_read_hdf5(path))

    def _transform(self, df):
        model = self.get_model()
        if model is None:
            raise ModelSpecError("ElephasTransformer has no model: give model=..., or keras_model_config (and weights)")
        column = columns.feature_expr(df, self.getFeaturesCol())
        udf = inference.predict_udf(df.sparkSession, model, self.get_custom_objects(),
                                    batch_size=self.get_inference_batch_size() or 1024)
        raw = udf(column)
        if self.model_type == ModelType.REGRESSION and model_spec.output_width(model) == 1:
            return df.withColumn(self.getOutputCol(), raw[0].cast("double"))
        return df.withColumn(self.getOutputCol(), raw.cast("array<double>"))


def _transformer_from_config(config, custom_objects=None):
    import numpy as np
    config = dict(config)
    config["weights"] = [np.asarray(w, dtype=np.float32) for w in config.get("weights") or []] or None
    if custom_objects:
        config["custom_objects"] = custom_objects
    return ElephasTransformer(**{k: v for k, v in config.items() if v is not None})


def load_ml_estimator(file_name, custom_objects=None):
    """An ElephasEstimator from the HDF5 file `ElephasEstimator.save` (sparkeras's or elephas's) wrote."""
    estimator = ElephasEstimator.load(file_name)
    if custom_objects:
        estimator.set_custom_objects(custom_objects)
    return estimator


def load_ml_transformer(file_name, custom_objects=None):
    """An ElephasTransformer, weights included, from the HDF5 file `ElephasTransformer.save`
    (sparkeras's or elephas's) wrote."""
    if _is_spark_ml_directory(file_name):
        transformer = ElephasTransformer.load(file_name)
        if custom_objects:
            transformer.set_custom_objects(custom_objects)
        return transformer
    return _transformer_from_config(_read_hdf5(file_name), custom_objects)
