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
    """The stored bytes, or None when this stage saved nothing under `name`."""
    location = path.rstrip("/") + "/" + name
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(location)
    if not hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(hadoop_path):
        return None
    return bytes(spark.read.parquet(location).collect()[0]["blob"])


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
        payload = _read_blob(spark, path, "keras_model")  # an estimator saved with buildFn only has none
        if payload is not None:
            model = keras_from_bytes(payload, instance.getCustomObjects() or None)
            if hasattr(instance, "keras_model"):
                instance.keras_model = model
            else:
                instance._set(model=model)
        build_fn = _read_blob(spark, path, "build_fn") if instance.hasParam("buildFn") else None
        if build_fn is not None:
            import cloudpickle
            instance._set(buildFn=cloudpickle.loads(build_fn))
        return instance


class KerasReadWrite(MLReadable, MLWritable):
    """MLWritable/MLReadable for every Keras stage of this package."""

    def write(self):
        return _Writer(self)

    @classmethod
    def read(cls):
        return _Reader(cls)

