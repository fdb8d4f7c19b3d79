"""The same user script with a classic session and with a Spark Connect client: trains
sparkeras.ml.KerasEstimator on the digits in two modes, applies, saves and loads the fitted
model and a Pipeline holding it, tunes epochs with a CrossValidator, and calls a model from
SQL. Only the session differs.

Run by test_connect.py as a separate driver:
    connect_job.py classic                      a classic local[2] session
    connect_job.py sc://127.0.0.1:<port>        a client of a Connect server started by the test
Prints one RESULT line of JSON with what the script saw.
"""
import json
import os
import sys
import tempfile

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

import sparkeras
from conftest import mlp
from pyspark import SparkContext
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import StandardScaler
from pyspark.ml.linalg import Vectors
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import SparkSession, is_remote
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sparkeras import SparkModel, register_udf
from sparkeras.errors import ClassicSessionRequired
from sparkeras.ml import KerasEstimator, KerasModel


def session(where):
    if where == "classic":
        return sparkeras.spark_session("local[2]", "sparkeras-classic", local_only=True, spark_ui_enabled="false")
    return SparkSession.builder.remote(where).getOrCreate()  # a thin client: no JVM in this process


def jvm_children():
    """Java processes this Python started (a classic session's driver JVM)."""
    me, found = os.getpid(), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                java = f.read().split(b"\0")[0].endswith(b"java")
        except OSError:
            continue
        found += parent == me and java
    return found


def main(where):
    spark = session(where)
    out = {"remote": is_remote(), "py4j_gateway": SparkContext._gateway is not None, "jvm_children": jvm_children()}
    d = load_digits()
    x = (d.data / 16.0).astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)
    keep = tempfile.mkdtemp(prefix="sparkeras-connect-")

    # ---- the user's script, the same in both worlds
    train = spark.createDataFrame([(Vectors.dense(r.tolist()), float(y)) for r, y in zip(x_train, y_train)],
                                  ["features", "label"])
    test = spark.createDataFrame([(Vectors.dense(r.tolist()), float(y)) for r, y in zip(x_test, y_test)],
                                 ["features", "label"])

    def accuracy(frame):
        return frame.where("prediction = label").count() / frame.count()

    for mode, frequency in (("synchronous", "batch"), ("asynchronous", "epoch")):
        fitted = KerasEstimator(model=mlp(), epochs=12, numWorkers=2, mode=mode, frequency=frequency,
                                seed=1).fit(train)
        out[f"{mode}/{frequency}"] = {"accuracy": accuracy(fitted.transform(test)), "model": type(fitted).__name__,
                                      "history_epochs": len(fitted.history["loss"]),
                                      "history_rows": fitted.historyFrame().count()}
    out["columns"] = fitted.transform(test).columns
    try:
        out["evaluate"] = fitted.evaluate(test)  # Keras's metrics: classic sessions only
    except ValueError as e:
        out["evaluate"] = str(e)

    # a model with two inputs, fed from two array columns
    import keras
    top, bottom = keras.Input((32,)), keras.Input((32,))
    hidden = keras.layers.Dense(64, activation="relu")(keras.layers.Concatenate()([top, bottom]))
    two = keras.Model([top, bottom], keras.layers.Dense(10, activation="softmax")(hidden))
    two.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    halves = ["top", "bottom", "label"]
    two_train = spark.createDataFrame([(r[:32].tolist(), r[32:].tolist(), float(y)) for r, y in zip(x_train, y_train)],
                                      halves)
    two_test = spark.createDataFrame([(r[:32].tolist(), r[32:].tolist(), float(y)) for r, y in zip(x_test, y_test)],
                                     halves)
    two_fitted = KerasEstimator(model=two, featuresCol=["top", "bottom"], epochs=12, numWorkers=2, seed=1).fit(two_train)
    out["two_inputs"] = accuracy(two_fitted.transform(two_test))

    fitted.write().overwrite().save(os.path.join(keep, "model"))
    loaded = KerasModel.load(os.path.join(keep, "model"))
    out["loaded"] = {"accuracy": accuracy(loaded.transform(test)), "model": type(loaded).__name__,
                     "history_epochs": len(loaded.history["loss"])}

    pipeline = Pipeline(stages=[StandardScaler(inputCol="features", outputCol="scaled"),
                                KerasEstimator(model=mlp(), epochs=12, numWorkers=2, featuresCol="scaled", seed=1)])
    pipeline.write().overwrite().save(os.path.join(keep, "pipeline"))
    pipeline = Pipeline.load(os.path.join(keep, "pipeline"))
    pipeline.fit(train).write().overwrite().save(os.path.join(keep, "pipeline-model"))
    reloaded = PipelineModel.load(os.path.join(keep, "pipeline-model"))
    out["pipeline"] = {"accuracy": accuracy(reloaded.transform(test)),
                       "stages": [type(s).__name__ for s in reloaded.stages]}

    estimator = KerasEstimator(model=mlp(), numWorkers=2, seed=1)
    grid = ParamGridBuilder().addGrid(estimator.epochs, [1, 12]).build()
    evaluator = MulticlassClassificationEvaluator(metricName="accuracy")
    tuned = CrossValidator(estimator=estimator, estimatorParamMaps=grid, evaluator=evaluator, numFolds=2,
                           seed=3).fit(train)
    out["cross_validation"] = {"metrics": list(tuned.avgMetrics), "best_accuracy": accuracy(tuned.bestModel.transform(test))}

    local = mlp()  # a Keras model in this process, called from SQL
    local.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    register_udf(spark, "digit_scores", local)
    test.createOrReplaceTempView("digits_test")
    scores = spark.sql("SELECT digit_scores(features) AS scores, label FROM digits_test").collect()
    out["sql_accuracy"] = sum(max(range(10), key=r.scores.__getitem__) == r.label for r in scores) / len(scores)

    try:
        SparkModel(mlp())
        out["spark_model"] = "ok"
    except ClassicSessionRequired as e:
        out["spark_model"] = str(e)
    # ----
    print("RESULT " + json.dumps(out))
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
