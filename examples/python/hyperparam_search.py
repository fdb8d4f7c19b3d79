"""Hyper-parameter search on Spark: 8 trials of a Keras MLP on the digits, 2 trained at a
time through the parameter server, bad trials pruned after an epoch; then an ensemble of
the 3 best. Needs Optuna (pip install "sparkeras[hyperparam]")."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import sparkeras
from sparkeras.hyperparam import HyperParamModel

spark = sparkeras.spark_session("local[2]", "hyperparam-example", local_only=True, spark_ui_enabled="false")
spark.sparkContext.setLogLevel("ERROR")
digits = load_digits()
x, y = (digits.data / 16.0).astype("float32"), digits.target
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.2, random_state=0, stratify=y_train)


def build(trial):
    """An Optuna trial in, a compiled Keras model out."""
    model = keras.Sequential([keras.Input((64,)),
                              keras.layers.Dense(trial.suggest_int("units", 16, 96, log=True), activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(trial.suggest_float("lr", 1e-3, 3e-2, log=True)),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


search = HyperParamModel(spark.sparkContext, parallelism=2, seed=0)
best = search.minimize(build, (x_train, y_train, x_val, y_val), max_evals=8, epochs=10, metric="val_accuracy")
for trial in search.trials():
    print(f"trial {trial['number']}: {trial['state']:<8} val_accuracy {trial['value'] or 0:.4f} {trial['params']}")
ensemble = search.best_ensemble(3, build, (x_train, y_train, x_val, y_val), max_evals=8, epochs=10,
                                metric="val_accuracy")


def accuracy(model):
    return float((np.argmax(sparkeras.SparkModel(model).predict(x_test), axis=1) == y_test).mean())


print(f"best model test accuracy: {accuracy(best):.4f}")
print(f"ensemble of 3 test accuracy: {accuracy(ensemble):.4f}")
sys.exit(0 if accuracy(best) > 0.9 and accuracy(ensemble) > 0.9 else 1)
