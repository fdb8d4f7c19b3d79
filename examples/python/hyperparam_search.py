"""Hyper-parameter search on Spark: 8 trials of a Keras MLP on the digits, 2 trained at a
time through the parameter server, bad trials pruned after an epoch; then an ensemble of
the 3 best. Needs Optuna (pip install "sparkeras[hyperparam]")."""
import sys

import sparkeras  # before keras: keeps TensorFlow's start-up lines off the console
import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sparkeras.hyperparam import HyperParamModel


def build(trial):
    """An Optuna trial in, a compiled Keras model out."""
    model = keras.Sequential([keras.Input((64,)),
                              keras.layers.Dense(trial.suggest_int("units", 16, 96, log=True), activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(trial.suggest_float("lr", 1e-3, 3e-2, log=True)),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main():
    spark = sparkeras.spark_session("local[2]", "hyperparam-example", local_only=True, spark_ui_enabled="false")
    spark.sparkContext.setLogLevel("ERROR")
    digits = load_digits()
    x, y = (digits.data / 16.0).astype("float32"), digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.2, random_state=0,
                                                      stratify=y_train)

    search = HyperParamModel(spark.sparkContext, parallelism=2, seed=0)
    data = (x_train, y_train, x_val, y_val)
    best = search.minimize(build, data, max_evals=8, epochs=10, metric="val_accuracy")
    for trial in search.trials():
        print(f"trial {trial['number']}: {trial['state']:<8} val_accuracy {trial['value'] or 0:.4f} {trial['params']}")
    ensemble = search.best_ensemble(3, build, data, max_evals=8, epochs=10, metric="val_accuracy")

    def accuracy(model):
        return float((np.argmax(sparkeras.SparkModel(model).predict(x_test), axis=1) == y_test).mean())

    best_accuracy, ensemble_accuracy = accuracy(best), accuracy(ensemble)
    print(f"best model test accuracy: {best_accuracy:.4f}")
    print(f"ensemble of 3 test accuracy: {ensemble_accuracy:.4f} (weights {search.ensemble_weights})")
    spark.stop()
    return 0 if best_accuracy > 0.9 and ensemble_accuracy > 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
