"""scikit-learn's handwritten digits as Spark DataFrames (features: Vector, label: double)."""
import numpy as np


def digits_frames(spark):
    from pyspark.ml.linalg import Vectors
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = (d.data / 16.0).astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)

    def frame(xs, ys):
        return spark.createDataFrame([(Vectors.dense(a.tolist()), float(b)) for a, b in zip(xs, ys)], ["features", "label"])
    return frame(x_train, y_train), frame(x_test, y_test)


def mlp(hidden=64, learning_rate=0.003):
    import keras
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hidden, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
