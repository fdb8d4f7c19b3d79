"""Keras as a Spark ML citizen: KerasEstimator trains through the parameter server from
a DataFrame, KerasModel adds predictions to DataFrames through Arrow batches."""
import numpy as np
from pyspark import keyword_only
from pyspark.ml import Estimator, Model

from sparkeras import model_spec
from sparkeras.ml import data, persistence
from sparkeras.ml.params import KerasParams, KerasTrainingParams
from sparkeras.model_spec import ModelSpecError

_CLASSIFICATION_LOSSES = ("crossentropy", "hinge", "kl_divergence", "kld", "focal")


def infer_task(model, task=None):
    if task:
        if task not in ("classification", "regression"):
            raise ModelSpecError(f"task must be 'classification' or 'regression'; got {task!r}")
        return task
    loss = str(model_spec._loss_name(model)).lower()
    return "classification" if any(k in loss for k in _CLASSIFICATION_LOSSES) else "regression"


class KerasEstimator(Estimator, KerasParams, KerasTrainingParams, persistence.KerasReadWrite):
    """Trains a Keras model on a DataFrame through sparkeras's parameter server.

    Give either `model` (a compiled Keras model; each fit trains a fresh copy of it) or
    `buildFn` (a function returning a compiled model, called with `modelParams`, so
    that tuning can vary the architecture).
    """

    @keyword_only
    def __init__(self, *, model=None, buildFn=None, modelParams=None, epochs=10, batchSize=32, learningRate=None,
                 mode="asynchronous", frequency="epoch", numWorkers=None, validationSplit=0.0,
                 featuresCol="features", labelCol="label", predictionCol="prediction",
                 probabilityCol="probability", task=None, customObjects=None, verbose=0, seed=None):
        super().__init__()
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    @keyword_only
    def setParams(self, **kwargs):
        return self._set(**{k: v for k, v in kwargs.items() if v is not None})

    def setModel(self, value):
        return self._set(model=value)

    def setBuildFn(self, value):
        return self._set(buildFn=value)

    def setModelParams(self, value):
        return self._set(modelParams=value)

    def setEpochs(self, value):
        return self._set(epochs=value)

    def setBatchSize(self, value):
        return self._set(batchSize=value)

    def setLearningRate(self, value):
        return self._set(learningRate=value)

    def setMode(self, value):
        return self._set(mode=value)

    def setFrequency(self, value):
        return self._set(frequency=value)

    def setNumWorkers(self, value):
        return self._set(numWorkers=value)

    def setValidationSplit(self, value):
        return self._set(validationSplit=value)

    def getEpochs(self):
        return self.getOrDefault(self.epochs)

    def getBatchSize(self):
        return self.getOrDefault(self.batchSize)

    def getMode(self):
        return self.getOrDefault(self.mode)

    def getFrequency(self):
        return self.getOrDefault(self.frequency)

    def fresh_model(self):
        """A new compiled Keras model to train: built by buildFn, or a copy of `model`."""
        import keras
        build_fn, template = self._get(self.buildFn), self._get(self.model)
        if build_fn is not None:
            model = build_fn(**(self._get(self.modelParams) or {}))
        elif template is not None:
            model_spec.check_compiled(template)
            with keras.utils.custom_object_scope(self.getCustomObjects() or {}):
                model = keras.models.clone_model(template)
                model.compile_from_config(template.get_compile_config())
            model.set_weights(template.get_weights())
        else:
            raise ModelSpecError("KerasEstimator needs a compiled Keras model (model=...) or a builder (buildFn=...)")
        model_spec.check_compiled(model)
        lr = self._get(self.learningRate)
        if lr is not None:
            model.optimizer.learning_rate.assign(float(lr))
        return model

    def _fit(self, dataset):
        from sparkeras.spark_model import SparkModel
        model = self.fresh_model()
        model_spec.check_mode(self.getMode(), self.getFrequency())
        task = infer_task(model, self.getTask())
        features = data.feature_columns(self.getFeaturesCol())
        arrays = data.as_array_columns(dataset, features, self.getLabelCol())
        first = arrays.limit(1).collect()
        if not first:
            raise ModelSpecError("the DataFrame is empty: there is nothing to train on")
        data.check_widths(first[0], model, features)
        shapes = data.input_shapes(model)
        if len(shapes) == 1:
            model_spec.check_sample(model, np.asarray(first[0]["f0"]).reshape(shapes[0]), first[0]["y"],
                                    where=f"column {self.getLabelCol()!r}")
        spark_model = SparkModel(model, mode=self.getMode(), frequency=self.getFrequency(),
                                 num_workers=self._get(self.numWorkers), custom_objects=self.getCustomObjects(),
                                 batch_size=self.getBatchSize())
        history = spark_model.fit_frame(arrays, len(features), shapes, epochs=self.getEpochs(),
                                        batch_size=self.getBatchSize(), verbose=self.getOrDefault(self.verbose),
                                        validation_split=self.getOrDefault(self.validationSplit),
                                        seed=self._get(self.seed))
        fitted = KerasModel(model=model, featuresCol=self.getFeaturesCol(), labelCol=self.getLabelCol(),
                            predictionCol=self.getPredictionCol(), probabilityCol=self.getProbabilityCol(),
                            task=task, customObjects=self.getCustomObjects())
        fitted.history = history.history
        return fitted


class KerasModel(Model, KerasParams, persistence.KerasReadWrite):
    """A trained Keras model as a Spark ML Model: `transform` adds Spark ML's output columns.

    Classification: `prediction` (the class index, double) and `probability` (a Vector).
    Regression: `prediction` (a double; an array for several outputs).
    """

    @keyword_only
    def __init__(self, *, model=None, featuresCol="features", labelCol="label", predictionCol="prediction",
                 probabilityCol="probability", task=None, customObjects=None):
        super().__init__()
        kwargs = dict(self._input_kwargs)
        self.keras_model = kwargs.pop("model", None)
        self.history = {}
        self._set(**{k: v for k, v in kwargs.items() if v is not None})

    def _transform(self, dataset):
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F
        model = self.keras_model
        features = data.feature_columns(self.getFeaturesCol())
        temp = [f"__sparkeras_f{i}" for i in range(len(features))]
        frame = dataset
        for name, column in zip(temp, features):
            frame = frame.withColumn(name, data.feature_expr(dataset, column))
        raw = F.col("__sparkeras_raw")
        frame = frame.withColumn("__sparkeras_raw", predict_udf(dataset.sparkSession, model, len(features), self.getCustomObjects())(*temp))
        task = infer_task(model, self.getTask())
        width = int(np.prod(model.outputs[0].shape[1:]))
        if task == "classification":
            if width == 1:
                p = raw[0].cast("double")
                frame = frame.withColumn(self.getProbabilityCol(), array_to_vector(F.array(1.0 - p, p)))
                frame = frame.withColumn(self.getPredictionCol(), (p >= 0.5).cast("double"))
            else:
                frame = frame.withColumn(self.getProbabilityCol(), array_to_vector(raw.cast("array<double>")))
                frame = frame.withColumn(self.getPredictionCol(),
                                         (F.array_position(raw, F.array_max(raw)) - 1).cast("double"))
        else:
            out = raw[0].cast("double") if width == 1 else raw.cast("array<double>")
            frame = frame.withColumn(self.getPredictionCol(), out)
        return frame.drop(*temp, "__sparkeras_raw")

    def evaluate(self, dataset, batch_size=256, return_dict=True):
        """Loss and every compiled metric over a DataFrame, computed on the executors and
        combined exactly (metric states are summed): equal to Keras's evaluate."""
        from sparkeras.spark_model import SparkModel
        features = data.feature_columns(self.getFeaturesCol())
        arrays = data.as_array_columns(dataset, features, self.getLabelCol())
        return SparkModel(self.keras_model, custom_objects=self.getCustomObjects()).evaluate_frame(
            arrays, len(features), data.input_shapes(self.keras_model), batch_size=batch_size, return_dict=return_dict)


def _with_arity(fn, n):
    """`fn(*args)` as a function of exactly n named parameters: predict_batch_udf maps one
    input column to each parameter it sees in the signature."""
    names = ", ".join(f"x{i}" for i in range(n))
    namespace = {"fn": fn}
    exec(f"def predict({names}):\n    return fn({names})", namespace)
    return namespace["predict"]


def predict_udf(spark, model, n_inputs, custom_objects=None, batch_size=1024):
    """A pandas UDF (Arrow batches) computing the model's raw output as array<float>, with
    the model built once per Python worker and its weights shipped as a broadcast."""
    import uuid

    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import ArrayType, FloatType

    from sparkeras import worker
    from sparkeras.spark_model import _use_driver_python_locally
    _use_driver_python_locally(spark.sparkContext)
    weights = spark.sparkContext.broadcast(model.get_weights())
    key = uuid.uuid4().hex
    spec = (model_spec.model_json(model), model_spec.compile_json(model) if model.compiled else "")
    shapes = data.input_shapes(model)

    def make_predict_fn():
        worker.prepare_process(1)
        wm = worker.get_model(spec[0], spec[1], custom_objects)

        def predict(*inputs):
            wm.set_weights(key, weights.value)
            x = [np.asarray(v, dtype=np.float32).reshape((-1,) + shapes[i]) for i, v in enumerate(inputs)]
            out = wm.predict_step(x[0] if len(x) == 1 else x)
            return np.asarray(out, dtype=np.float32).reshape(len(x[0]), -1)
        return _with_arity(predict, n_inputs)

    return predict_batch_udf(make_predict_fn, return_type=ArrayType(FloatType()), batch_size=batch_size,
                             input_tensor_shapes=[[int(np.prod(s))] for s in shapes])
