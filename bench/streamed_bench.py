"""The parameter server's streamed path against its per-connection path, for the wide MLP
(784-1024-1024-10, 1.86M parameters, 7.4 MB: over the 4 MB threshold, so streamed by
default), asynchronous and synchronous per-batch training, 2 workers on local[2], batch 128,
20,000 synthetic rows, 2 epochs after a warm-up fit; each run a fresh Spark application.
    .venv/bin/python bench/streamed_bench.py [--rows 20000] [--rounds 2]  # both paths, alternating
    .venv/bin/python bench/streamed_bench.py --child N [--rows R]          # one run, streamAbove=N
"""
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def child(stream_above, rows):
    import keras
    import numpy as np
    import sparkeras
    from sparkeras import SparkModel, to_simple_rdd
    spark = sparkeras.spark_session("local[2]", "streamed-bench", local_only=True, spark_ui_enabled="false",
                                    spark_driver_memory="4g", spark_sparkeras_server_streamAbove=str(stream_above))
    spark.sparkContext.setLogLevel("OFF")
    rng = np.random.default_rng(0)
    x = rng.random((rows, 784), dtype=np.float32)
    y = (x[:, :10].argmax(1)).astype("int64")
    rdd = to_simple_rdd(spark.sparkContext, x, y, 2).cache()
    rdd.count()

    def wide():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((784,)), keras.layers.Dense(1024, activation="relu"),
                              keras.layers.Dense(1024, activation="relu"), keras.layers.Dense(10, activation="softmax")])
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return m
    SparkModel(wide(), mode="asynchronous", frequency="batch", num_workers=2).fit(rdd, epochs=1, batch_size=128)
    out = {}
    for mode in ("asynchronous", "synchronous"):
        started = time.perf_counter()
        h = SparkModel(wide(), mode=mode, frequency="batch", num_workers=2).fit(rdd, epochs=2, batch_size=128)
        out[mode] = h.params["applied_samples"] / (time.perf_counter() - started)
    print("RESULT " + json.dumps(out))
    spark.stop()


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", type=int, help="one run with this streamAbove")
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.rows)
        sys.exit(0)
    rows = []
    for _ in range(args.rounds):
        for label, above in (("streamed", 4 << 20), ("per-connection", 64 << 20)):
            p = subprocess.run([sys.executable, __file__, "--child", str(above), "--rows", str(args.rows)],
                               capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(p.stderr[-3000:])
            line = next(l for l in p.stdout.splitlines() if l.startswith("RESULT "))
            rows.append((label, json.loads(line[7:])))
            print(label, rows[-1][1], flush=True)
