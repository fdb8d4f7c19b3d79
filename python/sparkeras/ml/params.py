"""The Params shared by KerasEstimator and KerasModel, with Spark ML's names and defaults."""
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasLabelCol, HasPredictionCol, HasProbabilityCol


def _identity(value):
    return value


def _columns(value):
    if isinstance(value, str):
        return value
    return [TypeConverters.toString(v) for v in TypeConverters.toList(value)]


class KerasParams(HasLabelCol, HasPredictionCol, HasProbabilityCol):
    featuresCol = Param(Params._dummy(), "featuresCol",
                        "feature column name, or a list of names feeding a multi-input model in order",
                        typeConverter=_columns)
    task = Param(Params._dummy(), "task", "'classification' or 'regression'; inferred from the loss when unset",
                 typeConverter=TypeConverters.toString)
    customObjects = Param(Params._dummy(), "customObjects", "custom Keras objects by name", typeConverter=_identity)

    def __init__(self):
        super().__init__()
        self._setDefault(featuresCol="features", labelCol="label", predictionCol="prediction",
                         probabilityCol="probability", customObjects={})

    def setFeaturesCol(self, value):
        return self._set(featuresCol=value)

    def getFeaturesCol(self):
        return self.getOrDefault(self.featuresCol)

    def setLabelCol(self, value):
        return self._set(labelCol=value)

    def setPredictionCol(self, value):
        return self._set(predictionCol=value)

    def setProbabilityCol(self, value):
        return self._set(probabilityCol=value)

    def setTask(self, value):
        return self._set(task=value)

    def getTask(self):
        return self.getOrDefault(self.task) if self.isDefined(self.task) else None

    def setCustomObjects(self, value):
        return self._set(customObjects=value)

    def getCustomObjects(self):
        return self.getOrDefault(self.customObjects)


class KerasTrainingParams(Params):
    model = Param(Params._dummy(), "model", "a compiled Keras model to train a copy of", typeConverter=_identity)
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
    seed = Param(Params._dummy(), "seed", "shuffling seed", typeConverter=TypeConverters.toInt)

    def __init__(self):
        super().__init__()
        self._setDefault(epochs=10, batchSize=32, mode="asynchronous", frequency="epoch", validationSplit=0.0,
                         verbose=0, modelParams={})

    def _get(self, param):
        return self.getOrDefault(param) if self.isDefined(param) else None
