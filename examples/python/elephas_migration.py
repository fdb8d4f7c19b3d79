"""elephas's README example, with `elephas` replaced by `sparkeras` in the imports."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
from pyspark import SparkConf, SparkContext
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tensorflow.keras.layers import Activation, Dense, Dropout
from tensorflow.keras.models import Sequential
from tensorflow.keras.optimizers import SGD
from tensorflow.keras.utils import to_categorical

from sparkeras.spark_model import SparkModel          # was: from elephas.spark_model import SparkModel
from sparkeras.utils.rdd_utils import to_simple_rdd   # was: from elephas.utils.rdd_utils import to_simple_rdd

conf = SparkConf().setAppName("Elephas_App").setMaster("local[2]") \
    .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1").set("spark.ui.enabled", "false")
sc = SparkContext(conf=conf)
sc.setLogLevel("ERROR")

digits = load_digits()
x_train, x_test, y_train, y_test = train_test_split(digits.data / 16.0, digits.target, test_size=0.25, random_state=0)
y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)

model = Sequential()
model.add(Dense(128, input_dim=64))
model.add(Activation("relu"))
model.add(Dropout(0.2))
model.add(Dense(128))
model.add(Activation("relu"))
model.add(Dropout(0.2))
model.add(Dense(10))
model.add(Activation("softmax"))
model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.1), metrics=["acc"])

rdd = to_simple_rdd(sc, x_train, y_train)
spark_model = SparkModel(model, frequency="epoch", mode="asynchronous")
spark_model.fit(rdd, epochs=20, batch_size=32, verbose=0, validation_split=0.1)

loss, accuracy = spark_model.evaluate(x_test, y_test)
print(f"test accuracy: {accuracy:.4f}")
sys.exit(0 if accuracy > 0.9 else 1)
