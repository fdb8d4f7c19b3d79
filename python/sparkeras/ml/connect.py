"""`KerasEstimator` from a Spark Connect client: a Connect client has no py4j, no
SparkContext and no RDDs, so the fit runs in the Connect server as the Scala
`sparkeras.ml.KerasEstimator` (found there through the jar's ServiceLoader registration),
driven by pyspark's own remote ML protocol. The Keras model travels as a base64 Param;
the fitted model stays in the server, and its `transform` runs there."""
import base64

from pyspark.ml.param import Param, TypeConverters
from pyspark.ml.wrapper import JavaEstimator, JavaModel

from sparkeras.errors import ModelSpecError
from sparkeras.ml import persistence

# The Params a Connect fit forwards to the Scala stage (the same names in both languages).
FORWARDED = ("epochs", "batchSize", "learningRate", "mode", "frequency", "numWorkers", "validationSplit", "verbose",
             "seed", "featuresCol", "featuresCols", "labelCol", "predictionCol", "probabilityCol", "rawPredictionCol",
             "task", "modelFile", "algorithm", "communicationWindow", "rho", "algorithmLearningRate", "gamma",
             "momentum", "checkpointDir", "checkpointEvery", "keepCheckpoints")
PYTHON_ONLY = ("buildFn", "modelParams", "customObjects", "callbacks")


class RemoteKerasModel(JavaModel):
    """A KerasModel fitted in a Spark Connect server: `transform` runs there (Scala stage)."""
    history = {}  # the History stays in the server; see the README's Spark Connect section
    history_params = {}


class RemoteKerasEstimator(JavaEstimator):
    """The Scala KerasEstimator, addressed from a Connect client; `params` maps each Param's
    name to (value, type converter), as the Python stage holds them."""

    def __init__(self, params):
        super().__init__()
        self._java_obj = self._new_java_obj("sparkeras.ml.KerasEstimator", self.uid)
        for name, (value, converter) in params.items():
            param = Param(self, name, name, typeConverter=converter)
            setattr(self, name, param)
            self._set(**{name: value})

    def _create_model(self, java_model):
        return RemoteKerasModel(java_model)


def fit_remote(estimator, dataset):
    """Fits `estimator` (sparkeras.ml.KerasEstimator) on a Connect DataFrame in the server."""
    used = [name for name in PYTHON_ONLY if estimator.hasParam(name) and estimator.isSet(estimator.getParam(name))]
    if used:
        raise ModelSpecError(f"{', '.join(used)} are Python objects, which a Spark Connect client cannot send to the "
                             "server; give a compiled model (model=...) or a .keras file (modelFile=...)")
    params = {}
    for name in FORWARDED:
        param = estimator.getParam(name)
        if estimator.isSet(param):
            params[name] = (estimator.getOrDefault(param), param.typeConverter)
    template = estimator.getOrDefault(estimator.model) if estimator.isDefined(estimator.model) else None
    if template is not None:
        encoded = base64.b64encode(persistence.keras_to_bytes(template)).decode("ascii")
        params["modelBase64"] = (encoded, TypeConverters.toString)
    elif "modelFile" not in params:
        raise ModelSpecError("KerasEstimator needs a compiled Keras model (model=...) or a .keras file "
                             "(modelFile=..., a path the Spark Connect server can read)")
    return RemoteKerasEstimator(params).fit(dataset)

