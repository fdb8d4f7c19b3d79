"""Trains the digits MLP with each of dist-keras's algorithms, 4 workers on local[4] (four
workers at once, so that their pushes interleave as on a cluster).

Run by test_algorithms.py as a separate driver (its own Spark application):
    algorithms_job.py <epochs> <algorithm> [<algorithm> ...]
Prints one RESULT line of JSON: per algorithm, the test accuracy, History's staleness and
params, and for the ensemble its members' agreement with the ensemble model; then a
SparkModel saved and loaded with its algorithm.
"""
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import sparkeras
from conftest import mlp
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sparkeras import SparkModel, to_simple_rdd
from sparkeras.spark_model import load_spark_model

WORKERS, BATCH = 4, 32
# AGN and ADAG divide each worker's progress by the window: their workers take larger steps.
LEARNING_RATE = {"agn": 0.01, "adag": 0.01}


def main():
    epochs, names = int(sys.argv[1]), sys.argv[2:]
    spark = sparkeras.spark_session(f"local[{WORKERS}]", "sparkeras-algorithms", local_only=True,
                                    spark_ui_enabled="false")
    spark.sparkContext.setLogLevel("ERROR")
    d = load_digits()
    x = (d.data / 16.0).astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(x, d.target.astype("int64"), test_size=0.25, random_state=0,
                                                        stratify=d.target)
    rdd = to_simple_rdd(spark.sparkContext, x_train, y_train, num_partitions=WORKERS)
    results = {}
    for name in names:
        model = mlp(optimizer=_adam(LEARNING_RATE.get(name, 0.003)))
        spark_model = SparkModel(model, algorithm=name, num_workers=WORKERS)
        history = spark_model.fit(rdd, epochs=epochs, batch_size=BATCH, seed=1)
        predictions = spark_model.predict(x_test)
        result = {"accuracy": float(np.mean(np.argmax(predictions, axis=1) == y_test)),
                  "epochs": history.epoch, "loss": history.history["loss"],
                  "staleness": history.params["staleness"], "applied_samples": history.params["applied_samples"],
                  "algorithm": history.params["algorithm"], "algorithm_params": history.params["algorithm_params"],
                  "config": spark_model.get_config()}
        if name == "ensemble":
            members = spark_model.members
            mean = np.mean([m.predict(x_test, verbose=0) for m in members], axis=0)
            result["members"] = len(members)
            result["member_accuracy"] = [float(np.mean(np.argmax(m.predict(x_test, verbose=0), axis=1) == y_test))
                                         for m in members]
            result["ensemble_vs_mean"] = float(np.max(np.abs(predictions - mean)))
            result["members_differ"] = float(np.max(np.abs(members[0].get_weights()[0] - members[1].get_weights()[0])))
            result["given_model_untouched"] = bool(np.array_equal(model.get_weights()[0], mlp().get_weights()[0]))
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "ensemble.keras")
                spark_model.save(path)
                loaded = load_spark_model(path)
                result["loaded_ensemble_max_diff"] = float(np.max(np.abs(loaded.predict(x_test) - predictions)))
        if name == "adag":
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "adag.keras")
                SparkModel(mlp(), algorithm="adag", gamma=0.01, communication_window=7, num_workers=2).save(path)
                loaded = load_spark_model(path)
                result["loaded"] = {"algorithm": loaded.algorithm, "config": loaded.get_config()}
        results[name] = result
        print(f"{name}: {result['accuracy']:.4f}", file=sys.stderr, flush=True)
    spark.stop()
    print("RESULT " + json.dumps(results))


def _adam(lr):
    import keras
    return keras.optimizers.Adam(lr)


if __name__ == "__main__":
    main()
