"""The Scala stages' JVM-started Python workers against the Python stages, in one Spark
application (local[2]: one executor with two cores): the same digits, model and settings
trained by both paths twice (the first fit of each path starts its Python workers), and the
Scala model applied to 8 partitions.

Run by tests/test_jvm_workers.py and bench/jvm_workers_bench.py as a separate driver:  scala_pool_job.py
Prints one RESULT line of JSON: seconds per fit for each path (bench/jvm_workers_bench.py), test accuracies, how many
Python processes the JVM's pool started, which processes trained, and the Scala History.
"""
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

import sparkeras
from conftest import mlp
from pyspark.ml.linalg import Vectors
from pyspark.sql import DataFrame
from sparkeras.driver import bridge
from sparkeras.ml import KerasEstimator

EPOCHS = 10


def live_workers(module):
    """Python processes of `module` started by this driver's JVM (children of it), by /proc."""
    jvm = os.getpid()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if module.encode() in args and b"serve" in args:
            found.append((int(pid), parent))
    return [pid for pid, parent in found if parent != jvm]  # the JVM, not this Python, is their parent


def main():
    spark = sparkeras.spark_session("local[2]", "sparkeras-scala-pool", local_only=True, spark_ui_enabled="false")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x_train, x_test, y_train, y_test = train_test_split((d.data / 16.0).astype("float32"), d.target, test_size=0.25,
                                                        random_state=0, stratify=d.target)
    train = spark.createDataFrame([(Vectors.dense(r.tolist()), float(y)) for r, y in zip(x_train, y_train)],
                                  ["features", "label"]).repartition(8).cache()
    test = spark.createDataFrame([(Vectors.dense(r.tolist()), float(y)) for r, y in zip(x_test, y_test)],
                                 ["features", "label"]).repartition(8).cache()
    train.count(), test.count()
    model_file = os.path.join(tempfile.mkdtemp(), "template.keras")
    mlp().save(model_file)
    pool = spark.sparkContext._jvm.sparkeras.ml.PythonWorker

    def accuracy(frame):
        return frame.where("prediction = label").count() / frame.count()

    def python_fit():
        return KerasEstimator(model=mlp(), epochs=EPOCHS, numWorkers=2, seed=1).fit(train)

    def scala_fit():
        estimator = (bridge.new_instance(spark.sparkContext, "sparkeras.ml.KerasEstimator").setModelFile(model_file)
                     .setEpochs(EPOCHS).setNumWorkers(2).setSeed(1))
        return estimator.fit(train._jdf)

    seconds = {"python": [], "scala": []}
    for _ in range(2):
        for path, fit in (("python", python_fit), ("scala", scala_fit)):
            started = time.perf_counter()
            fitted = fit()
            seconds[path].append(time.perf_counter() - started)
            if path == "python":
                python_model = fitted
            else:
                scala_model = fitted
    scala_predictions = DataFrame(scala_model.transform(test._jdf), spark)
    result = {
        "seconds": seconds,
        "python_accuracy": accuracy(python_model.transform(test)),
        "scala_accuracy": accuracy(scala_predictions),
        "test_partitions": test.rdd.getNumPartitions(),
        "train_partitions": train.rdd.getNumPartitions(),
        "executor_processes_started": pool.started("sparkeras.executor"),
        "driver_helpers_started": pool.started("sparkeras.driver.jvm_commands"),
        "executor_processes_alive": len(live_workers("sparkeras.executor")),
        "scala_history": DataFrame(scala_model.historyFrame(spark._jsparkSession), spark).toPandas().to_dict("list"),
        "python_history_columns": python_model.historyFrame().columns,
    }
    print("RESULT " + json.dumps(result))
    spark.stop()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
