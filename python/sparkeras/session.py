"""A SparkSession with the sparkeras jar already on the driver's classpath."""
import os
import sys

from sparkeras import jvm


def spark_session(master=None, app_name="sparkeras", local_only=False, **conf):
    """Gets or creates a SparkSession with `spark.jars` listing the bundled jar.

    `local_only=True` binds the driver to 127.0.0.1 (tests, laptops). Extra Spark
    settings are passed as keyword arguments with dots written as underscores,
    e.g. ``spark_session("local[2]", spark_ui_enabled="false")``.
    """
    from pyspark.sql import SparkSession
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    settings = {k.replace("_", "."): str(v) for k, v in conf.items()}
    settings["spark.jars"] = jvm.with_jar(settings.get("spark.jars"))
    if local_only:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings.setdefault("spark.driver.host", "127.0.0.1")
        settings.setdefault("spark.driver.bindAddress", "127.0.0.1")
    if (master or "local").startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for k, v in settings.items():
        builder = builder.config(k, v)
    return builder.getOrCreate()
