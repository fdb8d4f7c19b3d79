"""Writes a Parquet file of N rows with Spark, trains a KerasEstimator on it for one epoch,
and prints the driver process's peak RSS. Run by test_driver_memory.py in a fresh process."""
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import sparkeras
from pyspark.sql import functions as F
from sparkeras.ml import KerasEstimator

rows, path = int(sys.argv[1]), sys.argv[2]
spark = sparkeras.spark_session("local[2]", "sparkeras-memory", local_only=True, spark_ui_enabled="false",
                                spark_sql_shuffle_partitions="2")
spark.sparkContext.setLogLevel("ERROR")
# Generated on the executors: 16 features in [0, 1), label = whether their mean exceeds 0.5.
features = F.array(*[F.rand(seed=i).cast("float") for i in range(16)])
(spark.range(rows, numPartitions=4).select(features.alias("features"))
 .withColumn("label", (F.aggregate("features", F.lit(0.0).cast("double"), lambda a, x: a + x) > 8).cast("double"))
 .write.mode("overwrite").parquet(path))

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
df = spark.read.parquet(path)
started = time.time()
fitted = KerasEstimator(model=model, epochs=1, batchSize=1024, numWorkers=2).fit(df)
seconds = time.time() - started
accuracy = fitted.history["accuracy"][-1]
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("RESULT " + json.dumps({"rows": rows, "peak_rss_mb": peak_kb / 1024, "seconds": seconds, "accuracy": accuracy}))
spark.stop()
