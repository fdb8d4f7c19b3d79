"""The Params of the Keras stages: Spark ML's shared column Params and sparkeras's own,
with the same names, types and defaults as the Scala stages (tests compare them).

Python only: `model`, `buildFn`, `modelParams`, `customObjects` (Python objects).
Scala only: `pythonExec` (the interpreter the JVM starts for its workers).
"""
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol, HasSeed


def _identity(value):
    return value


class KerasParams(HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol):
    featuresCols = Param(Params._dummy(), "featuresCols",
                         "feature columns feeding a multi-input model, in the order of its inputs "
                         "(overrides featuresCol)", typeConverter=TypeConverters.toListString)
    task = Param(Params._dummy(), "task", "'classification' or 'regression'; inferred from the loss when unset",
                 typeConverter=TypeConverters.toString)
    customObjects = Param(Params._dummy(), "customObjects", "custom Keras objects by name", typeConverter=_identity)

    def __init__(self):
        super().__init__()
        self._setDefault(featuresCol="features", labelCol="label", predictionCol="prediction",
                         probabilityCol="probability", customObjects={})

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

    def setTask(self, value):
        return self._set(task=value)

    def getTask(self):
        return self.getOrDefault(self.task) if self.isDefined(self.task) else None

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

    def __init__(self):
        super().__init__()
        self._setDefault(epochs=10, batchSize=32, mode="asynchronous", frequency="epoch", validationSplit=0.0,
                         verbose=0, modelParams={})

    def _get(self, param):
        return self.getOrDefault(param) if self.isDefined(param) else None

    def explicit_seed(self):
        """The seed the user set, or None (Spark's default seed is the class name's hash)."""
        return self.getOrDefault(self.seed) if self.isSet(self.seed) else None
