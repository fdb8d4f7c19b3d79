"""The parameter server's heap for large Adam jobs, against its estimate.

Trains dense models of 2,000 x H (H = 5,000: 10M parameters, 40 MB of float32 weights;
H = 10,000: 20M) with frequency="batch" (gradients, Adam on the server) and 2 workers on
local[2], after a small warm-up fit. For each it prints the driver JVM's heap above the
pre-fit baseline (after a full GC) as a multiple of the model's size: the used heap sampled
every 20 ms, and the exact peak of each heap pool (the old generation holds the large
arrays; Spark's own per-job allocations, such as task serialization, land there too). The
growth from the smaller model to the larger one, per byte of model, is what the server
costs per byte of model, free of Spark's fixed share; the heap check's estimate is beside it.
    .venv/bin/python bench/server_heap.py [--hidden 5000,10000]
"""
import argparse
import json
import os
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--hidden", default="5000,10000", help="the two hidden sizes H, smaller first")
smaller, larger = (int(h) for h in parser.parse_args().hidden.split(","))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import sparkeras  # noqa: E402
from sparkeras import SparkModel, to_simple_rdd  # noqa: E402

spark = sparkeras.spark_session("local[2]", "sparkeras-server-heap", local_only=True, spark_ui_enabled="false",
                                spark_driver_memory="4g")
sc = spark.sparkContext
sc.setLogLevel("ERROR")
jvm = sc._jvm
memory = jvm.java.lang.management.ManagementFactory.getMemoryMXBean()
pools = [p for p in jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
         if str(p.getType().toString()) == "Heap memory"]

x = np.random.default_rng(0).random((512, 2000), dtype=np.float32)
rdd = to_simple_rdd(sc, x, x[:, 0], 2).cache()
rdd.count()


def dense(hidden):
    model = keras.Sequential([keras.Input((2000,)), keras.layers.Dense(hidden), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-4), "mse")
    return model


def measure(hidden):
    model = dense(hidden)
    params = model.count_params()
    jvm.java.lang.System.gc()
    time.sleep(1)
    baseline = memory.getHeapMemoryUsage().getUsed()
    pool_baseline = {str(p.getName()): p.getUsage().getUsed() for p in pools}
    for p in pools:
        p.resetPeakUsage()  # exact peaks: sampling misses short ones
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], memory.getHeapMemoryUsage().getUsed())
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    started = time.time()
    SparkModel(model, mode="asynchronous", frequency="batch", num_workers=2).fit(rdd, epochs=2, batch_size=64)
    done.set()
    model_bytes = 4 * params
    return {"parameters": params, "model_mb": round(model_bytes / 2 ** 20, 1),
            "used_peak_mb": round((peak[0] - baseline) / 2 ** 20, 1),
            "pool_peaks_mb": {str(p.getName()): round((p.getPeakUsage().getUsed() - pool_baseline[str(p.getName())])
                                                      / 2 ** 20, 1) for p in pools},
            "used_peak_x_model": round((peak[0] - baseline) / model_bytes, 2),
            "estimate_x_model": jvm.sparkeras.state.TrainingJob.heapNeeded(params, params, 2, 2, False) / model_bytes,
            "seconds": round(time.time() - started, 1)}


# A small fit first, so that classes, Spark's first jobs and the pooled threads are not counted.
SparkModel(dense(4), mode="asynchronous", frequency="batch", num_workers=2).fit(rdd, epochs=1, batch_size=64)
runs = [measure(smaller), measure(larger)]
for r in runs:
    print(json.dumps(r))
grown = runs[1]["model_mb"] - runs[0]["model_mb"]
old = [k for k in runs[0]["pool_peaks_mb"] if "Old" in k or "Tenured" in k]
print(json.dumps({"used_peak_growth_per_model_byte": round((runs[1]["used_peak_mb"] - runs[0]["used_peak_mb"]) / grown, 2),
                  "old_gen_growth_per_model_byte": round((runs[1]["pool_peaks_mb"][old[0]] -
                                                          runs[0]["pool_peaks_mb"][old[0]]) / grown, 2) if old else None}))
spark.stop()
