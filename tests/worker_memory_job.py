"""Writes a Parquet file of N rows with Spark, trains a KerasEstimator on it for one epoch,
and prints the Python workers' peak RSS. Run by test_streaming.py in a fresh process, so
that the workers are fresh too."""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import sparkeras
from pyspark.sql import functions as F
from sparkeras.ml import KerasEstimator

rows, width, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
spark = sparkeras.spark_session("local[2]", "sparkeras-worker-memory", local_only=True, spark_ui_enabled="false")
spark.sparkContext.setLogLevel("ERROR")
# Generated on the executors, in 4 partitions: each of the 2 workers streams two of them.
features = F.array(*[F.rand(seed=i).cast("float") for i in range(width)])
(spark.range(rows, numPartitions=4).select(features.alias("features"))
 .withColumn("label", (F.col("features")[0] + F.col("features")[1] > 1.0).cast("double"))
 .write.mode("overwrite").parquet(path))

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((width,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
df = spark.read.parquet(path)
fitted = KerasEstimator(model=model, epochs=1, batchSize=512, numWorkers=2).fit(df)
print("RESULT " + json.dumps({"rows": rows, "partitions": df.rdd.getNumPartitions(),
                              "worker_peak_rss_mb": fitted.history_params["worker_peak_rss_mb"],
                              "worker_samples": fitted.history_params["worker_samples"],
                              "accuracy": fitted.history["accuracy"][-1]}))
spark.stop()
