"""Trains the digits MLP through a standalone cluster; run by test_cluster.py as a separate driver."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sparkeras
from sparkeras import SparkModel, to_simple_rdd
from conftest import mlp
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

master = sys.argv[1]
spark = sparkeras.spark_session(master, "sparkeras-cluster-test", local_only=True, spark_ui_enabled="false",
                                spark_executor_memory="2g", spark_cores_max="2",
                                spark_pyspark_python=sys.executable)
sc = spark.sparkContext
d = load_digits()
x_train, x_test, y_train, y_test = train_test_split((d.data / 16.0).astype("float32"), d.target, test_size=0.25,
                                                    random_state=0, stratify=d.target)
model = mlp()
spark_model = SparkModel(model, mode=sys.argv[2], frequency=sys.argv[3], num_workers=2)
spark_model.fit(to_simple_rdd(sc, x_train, y_train, 2), epochs=15, batch_size=32)
loss, accuracy = spark_model.evaluate(x_test, y_test)
print(f"RESULT accuracy={accuracy:.4f} executors={sc._jsc.sc().getExecutorMemoryStatus().size() - 1}")
spark.stop()
