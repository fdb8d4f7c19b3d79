"""A PySpark application for `spark-submit --packages io.github.sparkeras:sparkeras-spark4_2.13:<VERSION>`:
the jar carries the sparkeras Python package, so nothing but pyspark and TensorFlow needs
to be installed where it runs."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from pyspark.sql import SparkSession
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import keras
import sparkeras
from sparkeras import SparkModel, to_simple_rdd

spark = SparkSession.builder.appName("sparkeras-submit-example").getOrCreate()
spark.sparkContext.setLogLevel("ERROR")
print(f"sparkeras {sparkeras.__version__} imported from {os.path.dirname(sparkeras.__file__)}")

d = load_digits()
x_train, x_test, y_train, y_test = train_test_split((d.data / 16.0).astype("float32"), d.target, test_size=0.25,
                                                    random_state=0, stratify=d.target)
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
spark_model = SparkModel(model, mode="asynchronous", frequency="batch", num_workers=2)
spark_model.fit(to_simple_rdd(spark.sparkContext, x_train, y_train, 2), epochs=15, batch_size=32)
loss, accuracy = spark_model.evaluate(x_test, y_test)
print(f"test accuracy: {accuracy:.4f}")
spark.stop()
sys.exit(0 if accuracy > 0.9 else 1)
