"""Writes what the Scala example needs into a folder: a compiled Keras model (model.keras)
and the digits data as Parquet (train.parquet, test.parquet: id, features, label).

    python examples/scala/prepare_data.py /tmp/sparkeras-scala
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/sparkeras-scala"
os.makedirs(out, exist_ok=True)
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
model.save(os.path.join(out, "model.keras"))
d = load_digits()
x_train, x_test, y_train, y_test = train_test_split((d.data / 16.0).astype("float32"), d.target, test_size=0.25,
                                                    random_state=0, stratify=d.target)
for name, xs, ys in (("train", x_train, y_train), ("test", x_test, y_test)):
    pq.write_table(pa.table({"id": np.arange(len(xs)), "features": list(xs), "label": ys.astype("float64")}),
                   os.path.join(out, f"{name}.parquet"))
print(f"wrote model.keras, train.parquet and test.parquet to {out}")
