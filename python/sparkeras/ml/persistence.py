"""MLWritable/MLReadable for the Keras stages, in the layout the Scala stages use too:
Spark ML's own metadata (DefaultParamsWriter) under `path/metadata`, with the class
named `sparkeras.ml.<Stage>` (a name both languages load), and the Keras model as a
`.keras` archive in one binary cell of a Parquet file under `path/keras_model`, so any
Hadoop file system URI works. Everything goes through the SparkSession (DataFrame reads and
writes), so stages save and load from a Spark Connect client too; there a KerasModel lives in
the server (sparkeras.ml.connect)."""
import json
import math
import os
import tempfile
import time
import warnings

from pyspark.ml.util import DefaultParamsReader, MLReadable, MLReader, MLWritable, MLWriter
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession, is_remote

from sparkeras.errors import UnsafeLoadRefused

# Params whose values are Python objects: never written as metadata.
PYTHON_OBJECT_PARAMS = ("model", "buildFn", "customObjects", "custom_objects", "callbacks", "preprocessingFn")


def stage_class_name(instance):
    """`sparkeras.ml.<Stage>` for the Keras stages (a name the Scala stages answer to as well);
    the class's own module path for the others (elephas's stages)."""
    module = type(instance).__module__
    if module == "sparkeras.ml" or module.startswith("sparkeras.ml."):
        return "sparkeras.ml." + type(instance).__name__
    return f"{module}.{type(instance).__name__}"


def _json_params(instance, params):
    return {param.name: value for param, value in params.items() if param.name not in PYTHON_OBJECT_PARAMS}


def save_metadata(instance, path, spark):
    """Spark ML's metadata JSON for `instance`, as DefaultParamsWriter writes it, under
    the class name the Scala stages also answer to; a fitted model's History rides along
    (as the Scala KerasModel keeps it)."""
    metadata = {
        "class": stage_class_name(instance), "timestamp": int(time.time() * 1000), "sparkVersion": spark.version,
        "uid": instance.uid,
        "paramMap": _json_params(instance, {p: instance.getOrDefault(p) for p in instance.params if instance.isSet(p)}),
        # pyspark keeps defaults only here; its own DefaultParamsWriter reads it the same way
        "defaultParamMap": _json_params(instance, instance._defaultParamMap),
    }
    history = getattr(instance, "history", None)
    if isinstance(history, dict) and history:  # a KerasModel's {metric: values} (elephas's stages keep a list)
        # JSON has no NaN: a non-finite value (a diverged loss) is null, read back as None / NaN
        metadata["history"] = {name: [float(v) if math.isfinite(float(v)) else None for v in values]
                               for name, values in history.items()}
    spark.createDataFrame([(json.dumps(metadata, separators=(",", ":")),)], "value string").coalesce(1).write.text(
        path.rstrip("/") + "/metadata")


def _write_blob(spark, path, name, payload):
    spark.createDataFrame([(bytearray(payload),)], "blob binary").coalesce(1).write.mode("overwrite").parquet(
        path.rstrip("/") + "/" + name)


def _exists(spark, location):
    """Whether `location` exists, asked of Hadoop's file system (reading a missing path would
    log a stack trace); a Spark Connect client has no JVM to ask, and reads instead."""
    if is_remote():
        return True
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(location)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(hadoop_path)


def _read_blob(spark, path, name):
    """The stored bytes, or None when this stage saved nothing under `name`."""
    location = path.rstrip("/") + "/" + name
    if not _exists(spark, location):
        return None
    try:
        rows = spark.read.parquet(location).collect()
    except AnalysisException as e:
        if "PATH_NOT_FOUND" in (e.getCondition() or "") or "Path does not exist" in str(e):
            return None
        raise
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


def read_keras_file(path, custom_objects=None):
    """A `.keras` model from any Hadoop path (a local file is read directly)."""
    local = path[len("file://"):] if path.startswith("file://") else path
    if "://" not in local and os.path.isfile(local):
        with open(local, "rb") as f:
            return keras_from_bytes(f.read(), custom_objects)
    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    rows = spark.read.format("binaryFile").load(path).select("content").collect()
    if not rows:
        raise FileNotFoundError(f"modelFile {path} does not exist")
    return keras_from_bytes(bytes(rows[0]["content"]), custom_objects)


class _Writer(MLWriter):
    def __init__(self, instance):
        super().__init__()
        self.instance = instance

    def _handleOverwrite(self, path):
        if is_remote():  # the server removes the directory
            from pyspark.ml.connect.readwrite import RemoteMLWriter
            RemoteMLWriter.handleOverwrite(path, True)
        else:
            super()._handleOverwrite(path)

    def saveImpl(self, path):
        spark = self.sparkSession
        save_metadata(self.instance, path, spark)
        model = getattr(self.instance, "keras_model", None)
        if model is None and self.instance.hasParam("model") and self.instance.isDefined(self.instance.getParam("model")):
            model = self.instance.getOrDefault("model")
        if model is not None:
            _write_blob(spark, path, "keras_model", keras_to_bytes(model))
        build_fn = self.instance._get(self.instance.buildFn) if hasattr(self.instance, "buildFn") else None
        if build_fn is not None and self.optionMap.get("savebuildfn", "false").lower() == "true":
            import cloudpickle  # only on request: loading it runs code, so it must be asked for twice
            _write_blob(spark, path, "build_fn", cloudpickle.dumps(build_fn))
        elif build_fn is not None:
            warnings.warn("the estimator's buildFn was not saved: a saved function is code that runs when the stage "
                          "is loaded. Save it with estimator.write().option('saveBuildFn', 'true').save(path), and "
                          "load it with KerasEstimator.load(path, allow_pickle=True)", stacklevel=2)


class _Reader(MLReader):
    def __init__(self, cls, allow_pickle=False):
        super().__init__()
        self.cls = cls
        self.allow_pickle = allow_pickle

    def option(self, key, value):
        """`option("allowPickle", "true")` lets a stored buildFn be unpickled (it runs code)."""
        if key.lower() == "allowpickle":
            self.allow_pickle = str(value).lower() == "true"
        return self

    def load(self, path):
        spark = self.sparkSession
        metadata = DefaultParamsReader.loadMetadata(path, spark)
        instance = self.cls()
        # Params of the other language (pythonExec) are not Python's to set.
        instance._setDefault(**{k: v for k, v in metadata.get("defaultParamMap", {}).items()
                                if instance.hasParam(k) and k not in PYTHON_OBJECT_PARAMS})
        instance._set(**{k: v for k, v in metadata["paramMap"].items() if instance.hasParam(k)})
        instance._resetUid(metadata["uid"])
        if isinstance(getattr(instance, "history", None), dict) and "history" in metadata:
            instance.history = {name: list(values) for name, values in metadata["history"].items()}
        payload = _read_blob(spark, path, "keras_model")  # an estimator saved with buildFn only has none
        if payload is not None:
            model = keras_from_bytes(payload, instance.getCustomObjects() or None)
            if hasattr(instance, "keras_model"):
                instance.keras_model = model
            else:
                instance._set(model=model)
        build_fn = _read_blob(spark, path, "build_fn") if instance.hasParam("buildFn") else None
        if build_fn is not None:
            if not self.allow_pickle:
                raise UnsafeLoadRefused(
                    f"{path} holds a pickled buildFn: loading it would run the code inside. Load it only if you "
                    f"trust who saved it, with {self.cls.__name__}.load(path, allow_pickle=True)")
            import cloudpickle  # only with allow_pickle=True
            instance._set(buildFn=cloudpickle.loads(build_fn))
        return instance


class KerasReadWrite(MLReadable, MLWritable):
    """MLWritable/MLReadable for every Keras stage of this package."""

    def write(self):
        return _Writer(self)

    @classmethod
    def read(cls):
        return _Reader(cls)

    @classmethod
    def load(cls, path, allow_pickle=False):
        """Loads a saved stage. Only data is read unless `allow_pickle=True`, which also
        unpickles a stored buildFn (running its code): use it only for directories you trust."""
        return _Reader(cls, allow_pickle).load(path)
