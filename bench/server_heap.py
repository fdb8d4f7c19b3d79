"""The parameter server's heap for a 10M-parameter Adam job, against its estimate.

Trains a 2,000 x 5,000 dense model (10M parameters, 40 MB of float32 weights) with
frequency="batch" (gradients, Adam on the server) and 2 workers on local[2], samples the
driver JVM's used heap every 20 ms, and prints the peak above the pre-fit baseline (after a
full GC) as a multiple of the model's size, beside the estimate the heap check uses.
    .venv/bin/python bench/server_heap.py
"""
import json
import os
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import sparkeras
from sparkeras import SparkModel, to_simple_rdd

spark = sparkeras.spark_session("local[2]", "sparkeras-server-heap", local_only=True, spark_ui_enabled="false",
                                spark_driver_memory="4g")
sc = spark.sparkContext
sc.setLogLevel("ERROR")
jvm = sc._jvm
memory = jvm.java.lang.management.ManagementFactory.getMemoryMXBean()

model = keras.Sequential([keras.Input((2000,)), keras.layers.Dense(5000), keras.layers.Dense(1)])
model.compile(keras.optimizers.Adam(1e-4), "mse")
params = model.count_params()
x = np.random.default_rng(0).random((512, 2000), dtype=np.float32)
rdd = to_simple_rdd(sc, x, x[:, 0], 2).cache()
rdd.count()

jvm.java.lang.System.gc()
time.sleep(1)
baseline = memory.getHeapMemoryUsage().getUsed()
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
estimate = jvm.sparkeras.state.TrainingJob.heapNeeded(params, params, 2, 2, False)
result = {"parameters": params, "model_mb": model_bytes / 2**20, "peak_above_baseline_mb": (peak[0] - baseline) / 2**20,
          "peak_x_model": (peak[0] - baseline) / model_bytes, "estimate_x_model": estimate / model_bytes,
          "seconds": time.time() - started}
print(json.dumps(result))
spark.stop()
