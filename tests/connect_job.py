"""The same user script with a classic session and with a Spark Connect client: trains
sparkeras.ml.KerasEstimator on the digits and applies the fitted model.

Run by test_connect.py as a separate driver:  connect_job.py <classic|connect>
Prints one RESULT line of JSON: whether the session was remote, the fitted model's class
and the test accuracy.
"""
import json
import os
import sys

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

import sparkeras
from conftest import mlp
from pyspark.sql import SparkSession, is_remote
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sparkeras.driver.bridge import bundled_jar
from sparkeras.ml import KerasEstimator

LOCAL = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1", "spark.ui.enabled": "false"}


def session(kind):
    if kind == "classic":
        return sparkeras.spark_session("local[2]", "sparkeras-classic", local_only=True, spark_ui_enabled="false")
    # pyspark starts a local Spark Connect server; the sparkeras jar registers its stages there
    builder = SparkSession.builder.remote("local[2]").config("spark.jars", bundled_jar())
    builder = builder.config("spark.connect.grpc.binding.address", "127.0.0.1")
    for key, value in LOCAL.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def main(kind):
    spark = session(kind)
    d = load_digits()
    x = (d.data / 16.0).astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)

    # ---- the user's script, the same in both worlds
    train = spark.createDataFrame([(r.tolist(), float(y)) for r, y in zip(x_train, y_train)], ["features", "label"])
    test = spark.createDataFrame([(r.tolist(), float(y)) for r, y in zip(x_test, y_test)], ["features", "label"])
    fitted = KerasEstimator(model=mlp(), epochs=15, numWorkers=2, seed=1).fit(train)
    predictions = fitted.transform(test)
    accuracy = predictions.where("prediction = label").count() / predictions.count()
    columns = predictions.columns
    # ----
    print("RESULT " + json.dumps({"remote": is_remote(), "model": type(fitted).__name__, "accuracy": accuracy,
                                  "columns": columns}))
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
