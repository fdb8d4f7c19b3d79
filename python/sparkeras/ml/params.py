"""The Params of the Keras stages: Spark ML's shared column Params and sparkeras's own,
with the same names, types and defaults as the Scala stages (tests compare them).

Python only: `model`, `buildFn`, `modelParams`, `customObjects` (Python objects).
Scala only: `pythonExec` (the interpreter the JVM starts for its workers).
"""
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol,
                                     HasRawPredictionCol, HasSeed)

from sparkeras.driver import algorithms


def _identity(value):
    return value


class KerasColumnParams(HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol, HasRawPredictionCol):
    """The Params a KerasModel shares with the Scala stage (all a Spark Connect client can send)."""
    featuresCols = Param(Params._dummy(), "featuresCols",
                         "feature columns feeding a multi-input model, in the order of its inputs "
                         "(overrides featuresCol)", typeConverter=TypeConverters.toListString)
    task = Param(Params._dummy(), "task", "'classification' or 'regression'; inferred from the loss when unset",
                 typeConverter=TypeConverters.toString)

    def __init__(self):
        super().__init__()
        self._setDefault(featuresCol="features", labelCol="label", predictionCol="prediction",
                         probabilityCol="probability", rawPredictionCol="rawPrediction")

    def _set(self, **kwargs):
        # A list given as featuresCol names the columns of a multi-input model.
        if isinstance(kwargs.get("featuresCol"), (list, tuple)):
            kwargs["featuresCols"] = list(kwargs.pop("featuresCol"))
        return super()._set(**kwargs)

    def feature_columns(self):
        """The feature columns, one per model input."""
        if self.isSet(self.featuresCols):
            return list(self.getOrDefault(self.featuresCols))
        return [self.getFeaturesCol()]

    def setFeaturesCol(self, value):
        return self._set(featuresCol=value)

    def setFeaturesCols(self, value):
        return self._set(featuresCols=value)

    def setLabelCol(self, value):
        return self._set(labelCol=value)

    def setPredictionCol(self, value):
        return self._set(predictionCol=value)

    def setProbabilityCol(self, value):
        return self._set(probabilityCol=value)

    def setRawPredictionCol(self, value):
        return self._set(rawPredictionCol=value)

    def setTask(self, value):
        return self._set(task=value)

    def getTask(self):
        return self.getOrDefault(self.task) if self.isDefined(self.task) else None


class KerasParams(KerasColumnParams):
    customObjects = Param(Params._dummy(), "customObjects", "custom Keras objects by name", typeConverter=_identity)

    def __init__(self):
        super().__init__()
        self._setDefault(customObjects={})

    def setCustomObjects(self, value):
        return self._set(customObjects=value)

    def getCustomObjects(self):
        return self.getOrDefault(self.customObjects)


class KerasTrainingParams(HasSeed):
    model = Param(Params._dummy(), "model", "a compiled Keras model to train a copy of", typeConverter=_identity)
    modelFile = Param(Params._dummy(), "modelFile", "a compiled Keras model saved as .keras, any Hadoop path",
                      typeConverter=TypeConverters.toString)
    buildFn = Param(Params._dummy(), "buildFn", "a function returning a compiled Keras model, called with modelParams",
                    typeConverter=_identity)
    modelParams = Param(Params._dummy(), "modelParams", "keyword arguments for buildFn (tunable: hidden width, dropout...)",
                        typeConverter=_identity)
    epochs = Param(Params._dummy(), "epochs", "training epochs", typeConverter=TypeConverters.toInt)
    batchSize = Param(Params._dummy(), "batchSize", "mini-batch size per worker", typeConverter=TypeConverters.toInt)
    learningRate = Param(Params._dummy(), "learningRate", "overrides the compiled optimizer's learning rate",
                         typeConverter=TypeConverters.toFloat)
    mode = Param(Params._dummy(), "mode", "synchronous, asynchronous or hogwild", typeConverter=TypeConverters.toString)
    frequency = Param(Params._dummy(), "frequency", "epoch or batch", typeConverter=TypeConverters.toString)
    numWorkers = Param(Params._dummy(), "numWorkers", "training workers (default: the cluster's parallelism)",
                       typeConverter=TypeConverters.toInt)
    validationSplit = Param(Params._dummy(), "validationSplit", "fraction of each worker's rows held out",
                            typeConverter=TypeConverters.toFloat)
    verbose = Param(Params._dummy(), "verbose", "print progress while training", typeConverter=TypeConverters.toInt)
    callbacks = Param(Params._dummy(), "callbacks",
                      "Keras callbacks run on the driver as epochs complete (not saved with the stage)",
                      typeConverter=_identity)
    # dist-keras's algorithms (driver/algorithms.py); unset Params take the algorithm's defaults
    algorithm = Param(Params._dummy(), "algorithm",
                      "a distributed algorithm: downpour, agn, adag, dynsgd, aeasgd, eamsgd, averaging or ensemble",
                      typeConverter=TypeConverters.toString)
    communicationWindow = Param(Params._dummy(), "communicationWindow",
                                "batches (averaging: epochs) between exchanges with the parameter server",
                                typeConverter=TypeConverters.toInt)
    rho = Param(Params._dummy(), "rho", "aeasgd, eamsgd: the elastic rate is rho * algorithmLearningRate",
                typeConverter=TypeConverters.toFloat)
    algorithmLearningRate = Param(Params._dummy(), "algorithmLearningRate",
                                  "aeasgd, eamsgd: the algorithm's learning rate (eamsgd's workers step at it)",
                                  typeConverter=TypeConverters.toFloat)
    gamma = Param(Params._dummy(), "gamma", "adag: how far a weight may move before a stale change to it is damped",
                  typeConverter=TypeConverters.toFloat)
    momentum = Param(Params._dummy(), "momentum", "eamsgd: the workers' Nesterov momentum",
                     typeConverter=TypeConverters.toFloat)
    # checkpoint and resume, as fit(checkpoint_dir=...): a fit finding a checkpoint of the same job resumes from it
    checkpointDir = Param(Params._dummy(), "checkpointDir",
                          "write the job's state here (any Hadoop URI) every checkpointEvery epochs; a fit finding a "
                          "checkpoint of the same job resumes from it", typeConverter=TypeConverters.toString)
    checkpointEvery = Param(Params._dummy(), "checkpointEvery", "epochs between checkpoints",
                            typeConverter=TypeConverters.toInt)
    keepCheckpoints = Param(Params._dummy(), "keepCheckpoints", "how many of the newest checkpoints to keep",
                            typeConverter=TypeConverters.toInt)

    def __init__(self):
        super().__init__()
        self._setDefault(epochs=10, batchSize=32, mode="asynchronous", frequency="epoch", validationSplit=0.0,
                         verbose=0, modelParams={}, checkpointEvery=1, keepCheckpoints=3)

    def _get(self, param):
        return self.getOrDefault(param) if self.isDefined(param) else None

    def chosen_algorithm(self):
        """The algorithm the Params choose, checked, with its defaults (None for sparkeras's own)."""
        return algorithms.resolve(
            self._get(self.algorithm), self.getOrDefault(self.mode),
            frequency=self.getOrDefault(self.frequency) if self.isSet(self.frequency) else None,
            communication_window=self._get(self.communicationWindow), rho=self._get(self.rho),
            learning_rate=self._get(self.algorithmLearningRate), gamma=self._get(self.gamma),
            momentum=self._get(self.momentum))

    def explicit_seed(self):
        """The seed the user set, or None (Spark's default seed is the class name's hash)."""
        return self.getOrDefault(self.seed) if self.isSet(self.seed) else None


# elephas's Param mixins (`elephas.ml.params`): one Param each, elephas's default, and
# elephas's snake_case accessors. Values are kept as given, as elephas does (no converter).
_UNSET = object()


def _elephas_mixin(class_name, param, doc, setter, getter, default=_UNSET):
    holder = Param(Params._dummy(), param, doc, typeConverter=_identity)

    def __init__(self):
        super(mixin, self).__init__()
        if default is not _UNSET:
            self._setDefault(**{param: default})

    def set_value(self, value):
        return self._set(**{param: value})

    def get_value(self):
        return self.getOrDefault(getattr(self, param))

    mixin = type(class_name, (Params,), {"__init__": __init__, param: holder, setter: set_value, getter: get_value,
                                         "__doc__": f"Param mixin of elephas: {doc}.", "__module__": __name__})
    return mixin


HasKerasModelConfig = _elephas_mixin("HasKerasModelConfig", "keras_model_config", "the Keras model as JSON",
                                     "set_keras_model_config", "get_keras_model_config")
HasKerasOptimizerConfig = _elephas_mixin("HasKerasOptimizerConfig", "optimizer_config",
                                         "the optimizer as keras.optimizers.serialize gives it",
                                         "set_optimizer_config", "get_optimizer_config", None)
HasMode = _elephas_mixin("HasMode", "mode", "synchronous, asynchronous or hogwild", "set_mode", "get_mode",
                         "asynchronous")
HasFrequency = _elephas_mixin("HasFrequency", "frequency", "epoch or batch", "set_frequency", "get_frequency", "epoch")
HasNumberOfClasses = _elephas_mixin("HasNumberOfClasses", "nb_classes", "number of classes", "set_nb_classes",
                                    "get_nb_classes", 10)
HasCategoricalLabels = _elephas_mixin("HasCategoricalLabels", "categorical",
                                      "labels are class indices, one-hot encoded for training",
                                      "set_categorical_labels", "get_categorical_labels", True)
HasEpochs = _elephas_mixin("HasEpochs", "epochs", "training epochs", "set_epochs", "get_epochs", 10)
HasBatchSize = _elephas_mixin("HasBatchSize", "batch_size", "mini-batch size", "set_batch_size", "get_batch_size", 32)
HasVerbosity = _elephas_mixin("HasVerbosity", "verbose", "verbosity", "set_verbosity", "get_verbosity", 0)
HasValidationSplit = _elephas_mixin("HasValidationSplit", "validation_split", "fraction of rows held out",
                                    "set_validation_split", "get_validation_split", 0.1)
HasNumberOfWorkers = _elephas_mixin("HasNumberOfWorkers", "num_workers", "training workers", "set_num_workers",
                                    "get_num_workers", 8)
HasMetrics = _elephas_mixin("HasMetrics", "metrics", "Keras metrics", "set_metrics", "get_metrics", ["acc"])
HasLoss = _elephas_mixin("HasLoss", "loss", "Keras loss", "set_loss", "get_loss")
HasCustomObjects = _elephas_mixin("HasCustomObjects", "custom_objects", "custom Keras objects by name",
                                  "set_custom_objects", "get_custom_objects", {})
HasInferenceBatchSize = _elephas_mixin("HasInferenceBatchSize", "inference_batch_size", "rows per prediction batch",
                                       "set_inference_batch_size", "get_inference_batch_size", None)
