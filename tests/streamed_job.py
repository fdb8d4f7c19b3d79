"""Trains the digits MLP with every push, welcome and reply streamed through one staging
array (spark.sparkeras.server.streamAbove=0, stagingMemory=0), as a model over 4 MB of
weights is; run by test_streamed_server.py in its own Spark application:
    streamed_job.py <streamAbove bytes>
Prints one RESULT line: per mode, test accuracy, applied samples and a digest of the weights."""
import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import sparkeras
from conftest import digits_split, mlp
from sparkeras import SparkModel, to_simple_rdd

RUNS = [("synchronous", "batch", None), ("asynchronous", "batch", None), ("hogwild", "epoch", None),
        ("asynchronous", "batch", "adag")]


def main():
    stream_above = sys.argv[1]
    spark = sparkeras.spark_session("local[2]", "sparkeras-streamed", local_only=True, spark_ui_enabled="false",
                                    spark_sparkeras_server_streamAbove=stream_above,
                                    spark_sparkeras_server_stagingMemory="0")
    spark.sparkContext.setLogLevel("OFF")
    x_train, x_test, y_train, y_test = digits_split()
    rdd = to_simple_rdd(spark.sparkContext, x_train, y_train, 2).cache()
    results = {}
    for mode, frequency, algorithm in RUNS:
        model = SparkModel(mlp(seed=1), mode=mode, frequency=frequency, num_workers=2, algorithm=algorithm)
        history = model.fit(rdd, epochs=8, batch_size=32, verbose=0, seed=5)
        weights = np.concatenate([w.ravel() for w in model.master_network.get_weights()]).astype("<f4")
        results[f"{mode}/{frequency}/{algorithm or '-'}"] = {
            "accuracy": float(model.evaluate(x_test, y_test)[1]), "applied": history.params["applied_samples"],
            "digest": hashlib.sha256(weights.tobytes()).hexdigest()}
    print("RESULT " + json.dumps(results))
    spark.stop()


if __name__ == "__main__":
    main()
