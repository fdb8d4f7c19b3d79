"""Keras as a Spark ML citizen: KerasEstimator trains through the parameter server from
a DataFrame, KerasModel adds predictions to DataFrames through Arrow batches. Both are
facades over the driver's training engine and inference."""
import numpy as np
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.functions import array_to_vector
from pyspark.sql import functions as F
from pyspark.sql import is_remote

from sparkeras.driver import columns, engine, ensemble, inference, model_spec
from sparkeras.driver.job_config import FitArguments, TrainingSettings
from sparkeras.errors import ModelSpecError
from sparkeras.ml import connect, persistence
from sparkeras.ml.history import history_frame
from sparkeras.ml.params import KerasParams, KerasTrainingParams


class KerasEstimator(Estimator, KerasParams, KerasTrainingParams, persistence.KerasReadWrite):
    """Trains a Keras model on a DataFrame through sparkeras's parameter server.

    Give either `model` (a compiled Keras model; each fit trains a fresh copy of it) or
    `buildFn` (a function returning a compiled model, called with `modelParams`, so
    that tuning can vary the architecture).
    """

    @keyword_only
    def __init__(self, *, model=None, modelFile=None, buildFn=None, modelParams=None, epochs=10, batchSize=32,
                 learningRate=None,
                 mode="asynchronous", frequency="epoch", numWorkers=None, validationSplit=0.0,
                 featuresCol="features", featuresCols=None, labelCol="label", predictionCol="prediction",
                 probabilityCol="probability", rawPredictionCol="rawPrediction", task=None, customObjects=None,
                 verbose=0, seed=None, callbacks=None, algorithm=None, communicationWindow=None, rho=None,
                 algorithmLearningRate=None, gamma=None, momentum=None, checkpointDir=None, checkpointEvery=None,
                 keepCheckpoints=None):
        super().__init__()
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    @keyword_only
    def setParams(self, **kwargs):
        return self._set(**{k: v for k, v in kwargs.items() if v is not None})

    def setModel(self, value):
        return self._set(model=value)

    def setModelFile(self, value):
        return self._set(modelFile=value)

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

    def setCallbacks(self, value):
        """Keras callbacks for every fit, run on the driver as under SparkModel.fit (never saved)."""
        return self._set(callbacks=list(value))

    def setCheckpointDir(self, value):
        return self._set(checkpointDir=value)

    def setAlgorithm(self, value):
        return self._set(algorithm=value)

    def setCommunicationWindow(self, value):
        return self._set(communicationWindow=value)

    def getAlgorithm(self):
        return self._get(self.algorithm)

    def getEpochs(self):
        return self.getOrDefault(self.epochs)

    def getBatchSize(self):
        return self.getOrDefault(self.batchSize)

    def getMode(self):
        return self.getOrDefault(self.mode)

    def getFrequency(self):
        return self.getOrDefault(self.frequency)

    def fresh_model(self):
        """A new compiled Keras model to train: built by buildFn, a copy of `model`, or read from `modelFile`."""
        import keras
        build_fn, template, path = self._get(self.buildFn), self._get(self.model), self._get(self.modelFile)
        if build_fn is not None:
            model = build_fn(**(self._get(self.modelParams) or {}))
        elif path is not None:
            model = persistence.read_keras_file(path, self.getCustomObjects() or None)
        elif template is not None:
            model_spec.check_compiled(template)
            with keras.utils.custom_object_scope(self.getCustomObjects() or {}):
                model = keras.models.clone_model(template)
                model.compile_from_config(template.get_compile_config())
            model.set_weights(template.get_weights())
        else:
            raise ModelSpecError("KerasEstimator needs a compiled Keras model (model=...), a .keras file (modelFile=...) "
                                 "or a builder (buildFn=...)")
        model_spec.check_compiled(model)
        lr = self._get(self.learningRate)
        if lr is not None:
            model_spec.override_learning_rate(model, lr)
        return model

    def _fit(self, dataset):
        if is_remote():  # a Spark Connect client: the Scala stage fits in the server
            return connect.fit_remote(self, dataset)
        model = self.fresh_model()
        chosen = self.chosen_algorithm()
        window = self._get(self.communicationWindow)
        settings = TrainingSettings(mode=self.getMode(), frequency=self.getFrequency(),
                                    communication_window=window if window and not chosen else 1,
                                    custom_objects=self.getCustomObjects() or {}, algorithm=chosen)
        args = FitArguments(epochs=self.getEpochs(), batch_size=self.getBatchSize(),
                            validation_split=self.getOrDefault(self.validationSplit), seed=self.explicit_seed(),
                            verbose=self.getOrDefault(self.verbose), checkpoint_dir=self._get(self.checkpointDir),
                            checkpoint_every=self.getOrDefault(self.checkpointEvery),
                            keep_checkpoints=self.getOrDefault(self.keepCheckpoints))
        task = model_spec.infer_task(model, self.getTask())
        source, _ = columns.frame_source(dataset, model, self.feature_columns(), self.getLabelCol())
        history = engine.fit(model, source, settings, args, self._get(self.numWorkers),
                             callbacks=self._get(self.callbacks) or ())
        members = getattr(history, "members", None)
        if members is not None:  # the ensemble algorithm: the model applies their averaging ensemble
            model = ensemble.average_ensemble(members, name=f"{model.name}_ensemble")
        fitted = KerasModel(model=model, labelCol=self.getLabelCol(), predictionCol=self.getPredictionCol(),
                            probabilityCol=self.getProbabilityCol(), rawPredictionCol=self.getRawPredictionCol(),
                            task=task,
                            customObjects=self.getCustomObjects())
        fitted._set(featuresCol=self.getFeaturesCol())
        if self.isSet(self.featuresCols):
            fitted._set(featuresCols=self.getOrDefault(self.featuresCols))
        fitted.history = history.history
        fitted.history_params = history.params  # how it ran: workers, steps, seconds, peak memory, staleness
        fitted.members = members
        return fitted


class KerasModel(Model, KerasParams, persistence.KerasReadWrite):
    """A trained Keras model as a Spark ML Model: `transform` adds Spark ML's output columns.

    Classification: Spark ML's `rawPrediction` and `probability` (Vectors; Keras models output
    probabilities, so rawPrediction holds them too, which ranks the same for
    BinaryClassificationEvaluator) and `prediction` (the class index, double); setting a
    column's name to "" leaves it out, as in Spark ML.
    Regression: `prediction` (a double; an array for several outputs).
    """

    @keyword_only
    def __init__(self, *, model=None, featuresCol="features", featuresCols=None, labelCol="label",
                 predictionCol="prediction",
                 probabilityCol="probability", rawPredictionCol="rawPrediction", task=None, customObjects=None):
        super().__init__()
        kwargs = dict(self._input_kwargs)
        self.keras_model = kwargs.pop("model", None)
        self.history = {}
        self.history_params = {}
        self.members = None  # the ensemble algorithm's trained models (their ensemble is the model applied)
        self._set(**{k: v for k, v in kwargs.items() if v is not None})

    def historyFrame(self):
        """The fit's History as a DataFrame: `epoch` (from 0) and one column per metric (loss,
        accuracy, val_loss, ...). The same call works on a model fitted from Spark Connect."""
        from pyspark.sql import SparkSession
        return history_frame(SparkSession.active(), self.history)

    @classmethod
    def read(cls):
        # from a Spark Connect client the model is loaded into the server (either language's layout)
        return connect.RemoteModelReader() if is_remote() else super().read()

    @classmethod
    def load(cls, path, allow_pickle=False):
        """Loads a saved model; from a Spark Connect client, into the server (a RemoteKerasModel)."""
        return connect.RemoteModelReader().load(path) if is_remote() else super().load(path, allow_pickle)

    def _transform(self, dataset):
        model = self.keras_model
        features = self.feature_columns()
        temp = [f"__sparkeras_f{i}" for i in range(len(features))]
        frame = dataset
        shapes = model_spec.input_shapes(model) if len(model_spec.input_shapes(model)) == len(features) \
            else [None] * len(features)
        for name, column, shape in zip(temp, features, shapes):
            frame = frame.withColumn(name, columns.feature_expr(dataset, column, shape))
        raw = F.col("__sparkeras_raw")
        udf = inference.predict_udf(dataset.sparkSession, model, self.getCustomObjects())
        frame = frame.withColumn("__sparkeras_raw", udf(*temp))
        task = model_spec.infer_task(model, self.getTask())
        width = model_spec.output_width(model)
        if task == "classification":
            if width == 1:
                p = raw[0].cast("double")
                probability, prediction = array_to_vector(F.array(1.0 - p, p)), (p >= 0.5).cast("double")
            else:
                probability = array_to_vector(raw.cast("array<double>"))
                prediction = (F.array_position(raw, F.array_max(raw)) - 1).cast("double")
            for name, column in ((self.getRawPredictionCol(), probability), (self.getProbabilityCol(), probability),
                                 (self.getPredictionCol(), prediction)):
                if name:
                    frame = frame.withColumn(name, column)
        else:
            out = raw[0].cast("double") if width == 1 else raw.cast("array<double>")
            frame = frame.withColumn(self.getPredictionCol(), out)
        return frame.drop(*temp, "__sparkeras_raw")

    def evaluate(self, dataset, batch_size=256, return_dict=True):
        """Loss and every compiled metric over a DataFrame, computed on the executors and
        combined exactly (metric states are summed): equal to Keras's evaluate."""
        model = self.keras_model
        model_spec.check_compiled(model)
        source, sample = columns.frame_source(dataset, model, self.feature_columns(), self.getLabelCol())
        return inference.evaluate(model, source, source.partitions(), batch_size, sample, return_dict,
                                  self.getCustomObjects())
