"""`KerasEstimator` and `KerasModel` from a Spark Connect client: a Connect client has no py4j,
no SparkContext and no RDDs, so the fit runs in the Connect server as the Scala
`sparkeras.ml.KerasEstimator` (found there through the jar's ServiceLoader registration),
driven by pyspark's own remote ML protocol. The Keras model travels as a base64 Param; the
fitted model stays in the server, where `transform`, `save` and `load` run. Its History comes
back through a temporary view the Scala stage registers in the client's session, since a
client may not call the model's own methods."""
import base64
import uuid

from pyspark.ml.param import Param, TypeConverters
from pyspark.ml.util import DefaultParamsReader, JavaMLWritable, MLReader
from pyspark.ml.wrapper import JavaEstimator, JavaModel

from sparkeras.errors import ModelSpecError
from sparkeras.ml import persistence
from sparkeras.ml.history import history_dict, history_frame
from sparkeras.ml.params import KerasColumnParams

SCALA_MODEL = "sparkeras.ml.KerasModel"
# The Params a Connect fit forwards to the Scala stage (the same names in both languages).
FORWARDED = ("epochs", "batchSize", "learningRate", "mode", "frequency", "numWorkers", "validationSplit", "verbose",
             "seed", "featuresCol", "featuresCols", "labelCol", "predictionCol", "probabilityCol", "rawPredictionCol",
             "task", "modelFile", "algorithm", "communicationWindow", "rho", "algorithmLearningRate", "gamma",
             "momentum", "checkpointDir", "checkpointEvery", "keepCheckpoints")
PYTHON_ONLY = ("buildFn", "modelParams", "customObjects", "callbacks")


class RemoteKerasModel(JavaModel, KerasColumnParams, JavaMLWritable):
    """A KerasModel living in a Spark Connect server (the Scala stage): `transform`, `write`
    and `save` run there. `history` and `historyFrame()` give the fit's History; `history_params`
    (how the fit ran) stays in the server and is empty here."""

    def __init__(self, java_model=None, history_view=None):
        super().__init__(java_model)
        self._history_view = history_view
        self._history = None
        self.history_params = {}

    def historyFrame(self):
        """The History as a DataFrame: `epoch` and one column per metric."""
        from pyspark.sql import SparkSession
        spark = SparkSession.active()
        if self._history_view is not None:
            return spark.table(self._history_view)
        return history_frame(spark, self._history or {})

    @property
    def history(self):
        """The History as Keras gives it: metric name -> one value per epoch."""
        if self._history is None:
            self._history = history_dict(self.historyFrame()) if self._history_view is not None else {}
        return self._history

    @history.setter
    def history(self, value):
        self._history = value

    def evaluate(self, dataset, *args, **kwargs):
        raise ModelSpecError("evaluate() computes Keras's metrics with the Keras model in this process, and this "
                             "KerasModel lives in the Spark Connect server: score its transform() output with a Spark ML "
                             "evaluator (MulticlassClassificationEvaluator, RegressionEvaluator, ...), which runs there")

    @classmethod
    def read(cls):
        return RemoteModelReader()

    @classmethod
    def load(cls, path):
        return cls.read().load(path)


class RemoteModelReader(MLReader):
    """Loads a saved KerasModel (either language's layout) into the Connect server."""

    def load(self, path):
        import pyspark.sql.connect.proto as pb2
        from pyspark.ml.connect.serialize import deserialize, deserialize_param
        from pyspark.ml.util import RemoteModelRef

        session = self.sparkSession
        command = pb2.Command()
        command.ml_command.read.CopyFrom(pb2.MlCommand.Read(
            operator=pb2.MlOperator(name=SCALA_MODEL, type=pb2.MlOperator.OPERATOR_TYPE_MODEL), path=path))
        _, properties, _ = session.client.execute_command(command)
        result = deserialize(properties)
        model = RemoteKerasModel(RemoteModelRef(result.obj_ref.id))
        model._resetUid(result.uid)
        values = {k: deserialize_param(v) for k, v in result.params.params.items()}
        model._set(**{k: v for k, v in values.items() if model.hasParam(k)})
        # the History is in the stage's metadata, which the server reads for the client
        model.history = DefaultParamsReader.loadMetadata(path, session).get("history", {})
        return model


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
        return RemoteKerasModel(java_model, history_view=self.getOrDefault("historyView"))


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
    params["historyView"] = (f"sparkeras_history_{uuid.uuid4().hex}", TypeConverters.toString)
    return RemoteKerasEstimator(params).fit(dataset)
