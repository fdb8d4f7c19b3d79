"""Kills a worker mid-training and checks that no step is applied twice or lost.

Run by test_faults.py as a separate driver (its own Spark application):
    fault_job.py <master> <kill: python|executor> <mode/frequency> [<mode/frequency> ...]
For each mode it trains the digits MLP once cleanly and once with one worker killed
(SIGKILL) when about 40% of the clean run's samples are applied, then prints one RESULT
line of JSON: per mode, the applied samples and test accuracy of both runs.
"""
import json
import os
import signal
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sparkeras
from conftest import mlp
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sparkeras import SparkModel, to_simple_rdd
from sparkeras.driver.engine import running_jobs

EPOCHS, BATCH, SEED = 40, 32, 11


def parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def executor_jvm(pid):
    """The executor JVM above a Python worker (worker <- pyspark daemon <- JVM)."""
    while pid > 1:
        pid = parent(pid)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"CoarseGrainedExecutorBackend" in f.read():
                return pid
    raise RuntimeError("no executor JVM above the Python worker")


def kill_when(fraction_of, kill, killed):
    """Waits until `fraction_of` samples are applied, then kills one of the job's workers."""
    deadline = time.time() + 300
    while time.time() < deadline and not killed:
        for job in running_jobs():
            workers = [w for w in job["workers"] if w["attempt"] == 0 and w["pid"] > 0]
            if job["applied_samples"] >= fraction_of and workers:
                victim = workers[-1]["pid"]
                target = victim if kill == "python" else executor_jvm(victim)
                os.kill(target, signal.SIGKILL)
                killed.append({"pid": target, "partition": workers[-1]["partition"],
                               "at_samples": job["applied_samples"]})
                return
        time.sleep(0.05)


def main():
    master, kill, modes = sys.argv[1], sys.argv[2], sys.argv[3:]
    spark = sparkeras.spark_session(master, "sparkeras-fault-test", local_only=True, spark_ui_enabled="false",
                                    spark_executor_memory="2g", spark_cores_max="2",
                                    spark_pyspark_python=sys.executable)
    spark.sparkContext.setLogLevel("OFF")
    d = load_digits()
    # Half the rows for testing: the accuracy of two runs is compared to one point.
    x_train, x_test, y_train, y_test = train_test_split((d.data / 16.0).astype("float32"), d.target, test_size=0.5,
                                                        random_state=0, stratify=d.target)
    rdd = to_simple_rdd(spark.sparkContext, x_train, y_train, 2).cache()
    rdd.count()
    results = {}
    for spec in modes:
        mode, frequency = spec.split("/")
        runs = {}
        for run in ("clean", "killed"):
            killed = []
            spark_model = SparkModel(mlp(seed=1), mode=mode, frequency=frequency, num_workers=2)
            if run == "killed":
                threading.Thread(target=kill_when, args=(0.4 * runs["clean"]["applied"], kill, killed),
                                 daemon=True).start()
            started = time.time()
            # one seed for both runs: they shuffle alike, so the kill is the only difference between them
            history = spark_model.fit(rdd, epochs=EPOCHS, batch_size=BATCH, verbose=0, seed=SEED)
            _, accuracy = spark_model.evaluate(x_test, y_test)
            runs[run] = {"applied": history.params["applied_samples"], "accuracy": accuracy,
                         "lost": history.params["lost_workers"], "epochs": len(history.history["loss"]),
                         "resumed": history.params["resumed_after_pushes"], "killed": killed,
                         "seconds": round(time.time() - started, 1)}
        results[spec] = runs
        print(spec, json.dumps(runs), file=sys.stderr, flush=True)
    print("RESULT " + json.dumps(results))
    spark.stop()


if __name__ == "__main__":
    main()
