"""Shared fixtures: one real local[2] SparkSession bound to 127.0.0.1, and the digits data."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def spark():
    import sparkeras
    session = sparkeras.spark_session("local[2]", "sparkeras-tests", local_only=True,
                                      spark_ui_enabled="false", spark_sql_shuffle_partitions="4")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sc(spark):
    return spark.sparkContext


def digits_split(test_size=0.25):
    """scikit-learn's bundled handwritten digits: (x_train, x_test, y_train, y_test), pixels in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = (d.data / 16.0).astype("float32")
    return train_test_split(x, d.target.astype("int64"), test_size=test_size, random_state=0, stratify=d.target)


@pytest.fixture(scope="session")
def digits():
    return digits_split()


def mlp(inputs=64, hidden=64, classes=10, optimizer=None, loss="sparse_categorical_crossentropy", seed=0):
    import keras
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((inputs,)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(classes, activation="softmax"),
    ])
    model.compile(optimizer=optimizer or keras.optimizers.Adam(0.003), loss=loss, metrics=["accuracy"])
    return model


@pytest.fixture
def make_mlp():
    return mlp


def run_job(script, *args, timeout=900):
    """Runs tests/<script> in a fresh Python process (a fresh Spark application and fresh
    workers) and returns the JSON it printed on its line starting with RESULT."""
    import json
    import subprocess
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, os.path.join(here, script)] + [str(a) for a in args], capture_output=True,
                         text=True, timeout=timeout, env=dict(os.environ, PYSPARK_PYTHON=sys.executable))
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(l for l in out.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


MNIST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "mnist")


@pytest.fixture(scope="session")
def images(digits):
    """Grey digit images with a channel axis, (x_train, x_test, y_train, y_test, name): MNIST
    (the first 10,000 training rows and the 10,000 test rows, 28x28) from ../shared/data/mnist when it is there,
    else scikit-learn's bundled 8x8 digits, which a fresh clone always has."""
    if os.path.isdir(MNIST_DIR):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "python"))
        try:
            from demo import load_mnist
        finally:
            sys.path.pop(0)
        x_train, x_test, y_train, y_test = load_mnist(MNIST_DIR)
        return (x_train[:10000].reshape(-1, 28, 28, 1), x_test.reshape(-1, 28, 28, 1),
                y_train[:10000], y_test, "mnist")
    x_train, x_test, y_train, y_test = digits
    return x_train.reshape(-1, 8, 8, 1), x_test.reshape(-1, 8, 8, 1), y_train, y_test, "digits"
