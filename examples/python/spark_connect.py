"""One script for a classic session and for a Spark Connect client: trains a Keras model on a
DataFrame of the digits with sparkeras.ml.KerasEstimator, reads its History, applies it,
saves and reloads it, and calls a Keras model from SQL.

    python spark_connect.py sc://127.0.0.1:15002   # a Connect client: fit and transform run in the server
    python spark_connect.py                         # a classic local[2] session

Start a local Connect server with the sparkeras jar first (the README's "From Spark Connect"):
    python -m sparkeras.driver.connect_server start
"""
import os
import sys
import tempfile

import sparkeras  # first: it keeps TensorFlow's start-up lines off the console
import keras
from pyspark.ml.linalg import Vectors
from pyspark.sql import SparkSession
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sparkeras import register_udf
from sparkeras.ml import KerasEstimator, KerasModel

if len(sys.argv) > 1:
    spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
else:
    spark = sparkeras.spark_session("local[2]", local_only=True, spark_ui_enabled="false")

digits = load_digits()
x = (digits.data / 16.0).astype("float32")
x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.25, random_state=0,
                                                    stratify=digits.target)
train = spark.createDataFrame([(Vectors.dense(r.tolist()), float(y)) for r, y in zip(x_train, y_train)],
                              ["features", "label"])
test = spark.createDataFrame([(Vectors.dense(r.tolist()), float(y)) for r, y in zip(x_test, y_test)],
                             ["features", "label"])

model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])

fitted = KerasEstimator(model=model, epochs=15, numWorkers=2, seed=1).fit(train)
fitted.historyFrame().show()                                 # epoch, accuracy, loss
predictions = fitted.transform(test)
accuracy = predictions.where("prediction = label").count() / predictions.count()

path = os.path.join(tempfile.mkdtemp(), "digits-model")
fitted.write().overwrite().save(path)                        # in the server, for a Connect client
reloaded = KerasModel.load(path)
again = reloaded.transform(test).where("prediction = label").count() / test.count()

local = keras.models.clone_model(model)                      # a Keras model held in this process, called from SQL
local.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy")
local.fit(x_train, y_train, epochs=10, verbose=0)
register_udf(spark, "digit_scores", local)
test.createOrReplaceTempView("digits_test")
spark.sql("SELECT label, digit_scores(features) AS scores FROM digits_test LIMIT 3").show(truncate=60)

print(f"{type(fitted).__name__}: test accuracy {accuracy:.3f}; reloaded from {path}: {again:.3f}")
spark.stop()
sys.exit(0 if accuracy >= 0.9 and again == accuracy else 1)
