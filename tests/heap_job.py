"""A large Adam model on a 512 MB driver, run by test_driver_memory.py:
    heap_job.py <hidden units>
4,000 x 6,000 (24M parameters, 96 MB of weights) trains: the server holds the weights, two
Adam slots and one staging array (4x). 4,000 x 12,000 (48M, 192 MB) cannot, and must fail
before any training stage with an error naming the memory it needs."""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import sparkeras
from sparkeras import ModelSpecError, SparkModel, to_simple_rdd

spark = sparkeras.spark_session("local[2]", "sparkeras-heap", local_only=True, spark_ui_enabled="false",
                                spark_driver_memory="512m")
sc = spark.sparkContext
sc.setLogLevel("OFF")
hidden = int(sys.argv[1])
model = keras.Sequential([keras.Input((4000,)), keras.layers.Dense(hidden), keras.layers.Dense(1)])
model.compile("adam", "mse")
x = np.random.default_rng(0).random((64, 4000), dtype=np.float32)
rdd = to_simple_rdd(sc, x, x[:, 0], 2)
started = time.time()
try:
    before = model.layers[0].kernel.numpy()[:100, :100].copy()
    history = SparkModel(model, frequency="batch", num_workers=2).fit(rdd, epochs=1)
    after = model.layers[0].kernel.numpy()[:100, :100]
    outcome = {"error": None, "parameters": model.count_params(), "changed": bool((before != after).any()),
               "finite": bool(np.isfinite(after).all()), "applied": history.params["applied_samples"]}
except ModelSpecError as e:
    outcome = {"error": str(e)}
outcome.update(seconds=time.time() - started, jobs=len(sc.statusTracker().getJobIdsForGroup(None)),
               max_heap_mb=sc._jvm.java.lang.Runtime.getRuntime().maxMemory() // (1 << 20))
print("RESULT " + json.dumps(outcome))
spark.stop()
