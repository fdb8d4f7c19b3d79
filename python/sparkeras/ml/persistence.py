"""MLWritable/MLReadable for the Keras stages: Spark ML's metadata for the plain Params,
and the Keras model itself as a `.keras` archive stored through Spark's own writers, so
any Hadoop file system URI works."""
import os
import tempfile

from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter

_PLAIN = ("featuresCol", "labelCol", "predictionCol", "probabilityCol", "outputCol", "task", "epochs", "batchSize",
          "learningRate", "mode", "frequency", "numWorkers", "validationSplit", "verbose", "seed", "modelParams",
          "inference_batch_size")


def _plain_params(instance):
    out = {}
    for name in _PLAIN:
        if instance.hasParam(name):
            param = instance.getParam(name)
            if instance.isSet(param):
                out[name] = instance.getOrDefault(param)
    return out


def _write_blob(spark, path, name, payload):
    spark.createDataFrame([(bytearray(payload),)], "blob binary").coalesce(1).write.mode("overwrite").parquet(
        path.rstrip("/") + "/" + name)


def _read_blob(spark, path, name):
    rows = spark.read.parquet(path.rstrip("/") + "/" + name).collect()
    return bytes(rows[0]["blob"])


def keras_to_bytes(model):
    with tempfile.TemporaryDirectory() as d:
        file = os.path.join(d, "model.keras")
        model.save(file)
        with open(file, "rb") as f:
            return f.read()


def keras_from_bytes(payload, custom_objects=None):
    import keras
    with tempfile.TemporaryDirectory() as d:
        file = os.path.join(d, "model.keras")
        with open(file, "wb") as f:
            f.write(payload)
        return keras.models.load_model(file, custom_objects=custom_objects)


class _Writer(MLWriter):
    def __init__(self, instance):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path):
        from pyspark.sql import SparkSession
        spark = SparkSession.getActiveSession()
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sc, paramMap=_plain_params(self.instance))
        model = getattr(self.instance, "keras_model", None)
        if model is None and self.instance.hasParam("model") and self.instance.isDefined(self.instance.getParam("model")):
            model = self.instance.getOrDefault("model")
        if model is not None:
            _write_blob(spark, path, "keras_model", keras_to_bytes(model))
        build_fn = self.instance._get(self.instance.buildFn) if hasattr(self.instance, "buildFn") else None
        if build_fn is not None:
            import cloudpickle
            _write_blob(spark, path, "build_fn", cloudpickle.dumps(build_fn))


class _Reader(MLReader):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path):
        from pyspark.sql import SparkSession
        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        metadata = DefaultParamsReader.loadMetadata(path, self.sc)
        params = dict(metadata["paramMap"])
        instance = self.cls()
        instance._set(**{k: v for k, v in params.items() if instance.hasParam(k)})
        instance._resetUid(metadata["uid"])
        try:
            model = keras_from_bytes(_read_blob(spark, path, "keras_model"), instance.getCustomObjects() or None)
        except Exception as e:  # an estimator saved with buildFn only has no model
            if "keras_model" not in str(e) and "PATH_NOT_FOUND" not in str(e) and "does not exist" not in str(e):
                raise
            model = None
        if model is not None:
            if hasattr(instance, "keras_model"):
                instance.keras_model = model
            else:
                instance._set(model=model)
        if instance.hasParam("buildFn"):
            try:
                import cloudpickle
                instance._set(buildFn=cloudpickle.loads(_read_blob(spark, path, "build_fn")))
            except Exception as e:
                if "PATH_NOT_FOUND" not in str(e) and "does not exist" not in str(e):
                    raise
        return instance


class EstimatorReadWrite(MLReadable, MLWritable):
    def write(self):
        return _Writer(self)

    @classmethod
    def read(cls):
        return _Reader(cls)


ModelReadWrite = EstimatorReadWrite
