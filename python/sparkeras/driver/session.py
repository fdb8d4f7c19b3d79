"""The Spark side of the driver: a session with the sparkeras jar on its classpath, the
active context, and the Python the executors run."""
import os
import sys

from pyspark import SparkContext
from pyspark.sql import SparkSession

from sparkeras.driver import bridge
from sparkeras.errors import ClassicSessionRequired


def spark_session(master=None, app_name="sparkeras", local_only=False, **conf):
    """Gets or creates a SparkSession with `spark.jars` listing the bundled jar.

    `local_only=True` binds the driver to 127.0.0.1 (tests, laptops). Extra Spark
    settings are passed as keyword arguments with dots written as underscores,
    e.g. ``spark_session("local[2]", spark_ui_enabled="false")``.
    """
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    settings = {k.replace("_", "."): str(v) for k, v in conf.items()}
    settings["spark.jars"] = bridge.with_jar(settings.get("spark.jars"))
    if local_only:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings.setdefault("spark.driver.host", "127.0.0.1")
        settings.setdefault("spark.driver.bindAddress", "127.0.0.1")
    if (master or "local").startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for k, v in settings.items():
        builder = builder.config(k, v)
    return builder.getOrCreate()


def use_driver_python_locally(sc):
    """In local mode the executors' Python should be the driver's (a virtualenv's), not
    whatever `python3` is first on PATH, unless the user chose one with PYSPARK_PYTHON."""
    if sc.master.startswith("local") and not os.environ.get("PYSPARK_PYTHON") and sc.pythonExec == "python3":
        sc.pythonExec = sys.executable
    return sc


def refuse_connect(api):
    """Stops a classic-only API in a Spark Connect client with an error naming what works there."""
    from pyspark.sql import is_remote
    if is_remote():
        raise ClassicSessionRequired(
            f"{api} needs a classic Spark session (a SparkContext, RDDs, py4j), which a Spark Connect client does "
            "not have. From Spark Connect, train on a DataFrame with sparkeras.ml.KerasEstimator (it trains in the "
            "Connect server; see the README's 'From Spark Connect'), apply models with sparkeras.ml.KerasModel and "
            "sparkeras.register_udf; or create a classic session with SparkSession.builder.master(...)")


def active_context(api="this API"):
    refuse_connect(api)
    sc = SparkContext._active_spark_context
    if sc is None:
        raise RuntimeError("no active SparkContext; create a SparkSession (or SparkContext) first")
    return use_driver_python_locally(sc)


def task_slots(sc):
    """Tasks the cluster can run at once (defaultParallelism counts executor cores)."""
    cpus = int(sc.getConf().get("spark.task.cpus", "1"))
    return max(1, sc.defaultParallelism // cpus)


def task_threads(sc, explicit=None):
    """TensorFlow threads per worker: one per task CPU unless the user says otherwise."""
    return int(explicit) if explicit else int(sc.getConf().get("spark.task.cpus", "1"))
