"""elephas's Spark ML API (`ElephasEstimator`, `ElephasTransformer`), at its module path,
backed by sparkeras's KerasEstimator. Unlike elephas, every setting is honoured
(elephas's estimator ignores `mode`)."""
import json

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasLabelCol, HasOutputCol
from pyspark.sql import functions as F

from sparkeras.driver import columns, inference
from sparkeras.errors import ModelSpecError
from sparkeras.ml import persistence
from sparkeras.ml.estimator import KerasEstimator


def _identity(value):
    return value


class _ElephasParams(HasFeaturesCol, HasLabelCol, HasOutputCol):
    keras_model_config = Param(Params._dummy(), "keras_model_config", "model.to_json()", typeConverter=_identity)
    optimizer_config = Param(Params._dummy(), "optimizer_config", "keras.optimizers.serialize(optimizer)",
                             typeConverter=_identity)
    loss = Param(Params._dummy(), "loss", "Keras loss", typeConverter=_identity)
    metrics = Param(Params._dummy(), "metrics", "Keras metrics", typeConverter=_identity)
    mode = Param(Params._dummy(), "mode", "synchronous, asynchronous or hogwild", typeConverter=TypeConverters.toString)
    frequency = Param(Params._dummy(), "frequency", "epoch or batch", typeConverter=TypeConverters.toString)
    epochs = Param(Params._dummy(), "epochs", "training epochs", typeConverter=TypeConverters.toInt)
    batch_size = Param(Params._dummy(), "batch_size", "mini-batch size", typeConverter=TypeConverters.toInt)
    verbose = Param(Params._dummy(), "verbose", "verbosity", typeConverter=TypeConverters.toInt)
    validation_split = Param(Params._dummy(), "validation_split", "held-out fraction", typeConverter=TypeConverters.toFloat)
    num_workers = Param(Params._dummy(), "num_workers", "training workers", typeConverter=TypeConverters.toInt)
    categorical = Param(Params._dummy(), "categorical", "labels are class indices to one-hot encode",
                        typeConverter=TypeConverters.toBoolean)
    nb_classes = Param(Params._dummy(), "nb_classes", "number of classes", typeConverter=TypeConverters.toInt)
    custom_objects = Param(Params._dummy(), "custom_objects", "custom Keras objects", typeConverter=_identity)
    inference_batch_size = Param(Params._dummy(), "inference_batch_size", "rows per prediction batch",
                                 typeConverter=TypeConverters.toInt)

    def __init__(self):
        super().__init__()
        self._setDefault(featuresCol="features", labelCol="label", outputCol="prediction", loss="categorical_crossentropy",
                         metrics=["acc"], mode="asynchronous", frequency="epoch", epochs=10, batch_size=32, verbose=0,
                         validation_split=0.1, num_workers=None, categorical=True, nb_classes=10, custom_objects={},
                         inference_batch_size=1024, optimizer_config=None)

    def setFeaturesCol(self, value): return self._set(featuresCol=value)
    def setLabelCol(self, value): return self._set(labelCol=value)
    def setOutputCol(self, value): return self._set(outputCol=value)

    # elephas's setter and getter names
    def set_keras_model_config(self, value): return self._set(keras_model_config=value)
    def get_keras_model_config(self): return self.getOrDefault(self.keras_model_config)
    def set_optimizer_config(self, value): return self._set(optimizer_config=value)
    def get_optimizer_config(self): return self.getOrDefault(self.optimizer_config)
    def set_loss(self, value): return self._set(loss=value)
    def get_loss(self): return self.getOrDefault(self.loss)
    def set_metrics(self, value): return self._set(metrics=value)
    def get_metrics(self): return self.getOrDefault(self.metrics)
    def set_mode(self, value): return self._set(mode=value)
    def get_mode(self): return self.getOrDefault(self.mode)
    def set_frequency(self, value): return self._set(frequency=value)
    def get_frequency(self): return self.getOrDefault(self.frequency)
    def set_epochs(self, value): return self._set(epochs=value)
    def get_epochs(self): return self.getOrDefault(self.epochs)
    def set_batch_size(self, value): return self._set(batch_size=value)
    def get_batch_size(self): return self.getOrDefault(self.batch_size)
    def set_verbosity(self, value): return self._set(verbose=value)
    def get_verbosity(self): return self.getOrDefault(self.verbose)
    def set_validation_split(self, value): return self._set(validation_split=value)
    def get_validation_split(self): return self.getOrDefault(self.validation_split)
    def set_num_workers(self, value): return self._set(num_workers=value)
    def get_num_workers(self): return self.getOrDefault(self.num_workers)
    def set_categorical_labels(self, value): return self._set(categorical=value)
    def get_categorical_labels(self): return self.getOrDefault(self.categorical)
    def set_nb_classes(self, value): return self._set(nb_classes=value)
    def get_nb_classes(self): return self.getOrDefault(self.nb_classes)
    def set_custom_objects(self, value): return self._set(custom_objects=value)
    def get_custom_objects(self): return self.getOrDefault(self.custom_objects)
    def set_inference_batch_size(self, value): return self._set(inference_batch_size=value)
    def get_inference_batch_size(self): return self.getOrDefault(self.inference_batch_size)


class ElephasEstimator(Estimator, _ElephasParams):
    """elephas's estimator: `ElephasEstimator(**params)`, `ElephasEstimator(model, epochs=...)`,
    or a bare `ElephasEstimator()` configured with its `set_*` methods."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        if args:
            model = args[0]
            kwargs.setdefault("keras_model_config", model.to_json())
            if getattr(model, "optimizer", None) is not None:
                import keras
                kwargs.setdefault("optimizer_config", keras.optimizers.serialize(model.optimizer))
            if getattr(model, "loss", None) is not None:
                kwargs.setdefault("loss", model.loss)
            self._initial_weights = model.get_weights()
        else:
            self._initial_weights = None
        self._set(**kwargs)

    @keyword_only
    def set_params(self, **kwargs):
        return self._set(**kwargs)

    def get_config(self):
        return {p.name: self.getOrDefault(p) for p in self.params if self.isDefined(p) and p.name != "custom_objects"}

    def save(self, file_name):
        with open(file_name, "w") as f:
            json.dump(self.get_config(), f)

    def _build_model(self):
        import keras
        custom = self.get_custom_objects() or {}
        if not self.isDefined(self.keras_model_config):
            raise ModelSpecError("ElephasEstimator needs keras_model_config (set_keras_model_config(model.to_json()))")
        with keras.utils.custom_object_scope(custom):
            model = keras.models.model_from_json(self.get_keras_model_config())
            optimizer = self.get_optimizer_config()
            optimizer = keras.optimizers.deserialize(optimizer) if optimizer else "adam"
            model.compile(optimizer=optimizer, loss=self.get_loss(), metrics=self.get_metrics())
        if self._initial_weights is not None:
            model.set_weights(self._initial_weights)
        return model

    def _fit(self, df):
        model = self._build_model()
        label = self.getLabelCol()
        frame = df
        if self.get_categorical_labels():
            classes = self.get_nb_classes()
            frame = df.withColumn("__sparkeras_onehot", F.transform(
                F.sequence(F.lit(0), F.lit(classes - 1)), lambda i: (i == F.col(label).cast("int")).cast("float")))
            label = "__sparkeras_onehot"
        estimator = KerasEstimator(model=model, featuresCol=self.getFeaturesCol(), labelCol=label,
                                   epochs=self.get_epochs(), batchSize=self.get_batch_size(), mode=self.get_mode(),
                                   frequency=self.get_frequency(), numWorkers=self.get_num_workers(),
                                   validationSplit=self.get_validation_split(), verbose=self.get_verbosity(),
                                   customObjects=self.get_custom_objects())
        trained = estimator.fit(frame).keras_model
        return ElephasTransformer(model=trained, featuresCol=self.getFeaturesCol(), labelCol=self.getLabelCol(),
                                  outputCol=self.getOutputCol(), custom_objects=self.get_custom_objects(),
                                  inference_batch_size=self.get_inference_batch_size())


class ElephasTransformer(Model, _ElephasParams, persistence.KerasReadWrite):
    """elephas's transformer: adds the model's raw output (array<double>) as `outputCol`."""

    @keyword_only
    def __init__(self, *, model=None, featuresCol="features", labelCol="label", outputCol="prediction",
                 custom_objects=None, inference_batch_size=1024, **kwargs):
        super().__init__()
        kwargs = dict(self._input_kwargs)
        self.keras_model = kwargs.pop("model", None)
        self._set(**{k: v for k, v in kwargs.items() if v is not None and self.hasParam(k)})

    def get_model(self):
        return self.keras_model

    def getCustomObjects(self):
        return self.get_custom_objects()

    def _transform(self, df):
        column = columns.feature_expr(df, self.getFeaturesCol())
        udf = inference.predict_udf(df.sparkSession, self.keras_model, self.get_custom_objects(),
                                    batch_size=self.get_inference_batch_size())
        return df.withColumn(self.getOutputCol(), udf(column).cast("array<double>"))
