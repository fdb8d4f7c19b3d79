"""MNIST benchmark: sparkeras's modes against single-process Keras, in one run.

Workload: MLP 784-128-128-10 (ReLU, dropout 0.2), Adam 0.001, batch 64, 10 epochs,
60k training / 10k test rows, 2 workers (--workers) on local[2]. Prints, for each run, samples/s,
the ratio to the baseline, the fraction of the compute ceiling and test accuracy;
then the parameter server's median push+pull against a bare TCP echo of the same bytes.

    .venv/bin/python bench/mnist_bench.py [--data ../shared/data/mnist] [--epochs 10] [--modes ...]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples", "python"))

import numpy as np

import ceiling  # bench/, beside this file

BATCH, EPOCHS = 64, 10
MODES = ["asynchronous/epoch", "asynchronous/batch", "synchronous/batch", "synchronous/epoch",
         "hogwild/epoch", "hogwild/batch", "asynchronous/batch/overlap", "hogwild/batch/overlap"]


def build_model(seed=0):
    import keras
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dropout(0.2),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def load(data):
    from demo import load_mnist
    return load_mnist(data)


# ------------------------------------------------------------ child processes

def child_baseline(data, epochs):
    """Single-process model.fit with TensorFlow's default threading (both cores)."""
    x_train, x_test, y_train, y_test = load(data)
    model = build_model()
    started = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=BATCH, verbose=0)
    seconds = time.perf_counter() - started
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    print(json.dumps({"seconds": seconds, "samples": len(x_train) * epochs, "accuracy": accuracy}))


def child_ceiling(data, epochs, part, workers):
    """One 1-thread process running a bare compiled train step on its share of the data, no communication."""
    ceiling.one_thread()
    x_train, _, y_train, _ = load(data)
    print(json.dumps(ceiling.bare_steps(build_model(), x_train[part::workers], y_train[part::workers], BATCH, epochs,
                                        seed=part)))


def run_child(args):
    out = subprocess.run([sys.executable, __file__] + args, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def ceiling_rate(data, epochs, workers):
    return ceiling.run_together([[sys.executable, __file__, "--child", "ceiling", "--data", data, "--epochs", str(epochs),
                                  "--part", str(p), "--workers", str(workers)] for p in range(workers)])


# ------------------------------------------------------------- wire timings

def wire_timings(sc, rounds=2000):
    """Median push+pull of the model's 118k parameters against a bare echo of the same bytes."""
    from sparkeras.driver import bridge, model_spec
    from sparkeras.executor.process import tune_malloc
    from sparkeras.wire.codec import encode_push, to_tensor
    from sparkeras.wire.connection import Connection
    from sparkeras.wire import sparkeras_pb2 as wire
    import struct

    model = build_model()
    coordinator = bridge.new_coordinator(sc)
    host, port, token = coordinator.getHost(), coordinator.getPort(), coordinator.getToken()
    with Connection(host, port) as driver:
        driver.hello(token, wire.DRIVER)
        env = wire.Envelope()
        cfg = env.job_config
        cfg.mode, cfg.frequency, cfg.num_workers, cfg.epochs, cfg.batch_size = "asynchronous", "batch", 1, 1, BATCH
        cfg.optimizer_class = "adam"
        cfg.optimizer_params["learning_rate"] = 1e-6
        for w in model_spec.trainable_and_rest(model):
            to_tensor(w.astype(np.float32), out=cfg.initial_weights.add())
        cfg.trainable_sizes.extend(int(np.prod(v.shape)) for v in model.trainable_weights)
        driver.call(env)
    size = sum(cfg.trainable_sizes)
    grads = (np.random.default_rng(0).standard_normal(size) * 1e-3).astype(np.float32)
    tune_malloc()  # as the executors' workers do

    push = wire.Envelope()
    push.push.kind, push.push.want_weights, push.push.samples = wire.GRADIENT, True, BATCH
    to_tensor(grads, out=push.push.values)
    payload = push.SerializeToString()
    header = struct.pack(">I", len(payload))
    echo = echo_server(sc)
    conn = Connection(host, port)
    conn.hello(token, wire.WORKER)
    conn.join(BATCH)  # a worker pushes only after joining the job
    bare_conn = Connection("127.0.0.1", echo.getPort())

    def push_pull():
        # encoded afresh every step, as a worker does
        conn.call_parts(encode_push(wire.GRADIENT, 0, BATCH, grads))

    def echo_once():
        bare_conn._sock.sendmsg([header, payload])
        bare_conn.receive()

    # Interleaved, so that both see the same machine load at the same moments.
    ps_times, echo_times = [], []
    for i in range(rounds + 100):
        for call, into in ((push_pull, ps_times), (echo_once, echo_times)):
            t = time.perf_counter()
            call()
            if i >= 100:
                into.append(time.perf_counter() - t)
    conn.close()
    bare_conn.close()
    coordinator.stop()
    echo.stop()
    ps, bare = statistics.median(ps_times), statistics.median(echo_times)
    return ps, bare, len(payload)


_ECHO = {}


def driver_cpu_seconds(sc):
    """CPU time of the whole driver JVM so far (the parameter server, and Spark's own threads)."""
    pid = sc._jvm.java.lang.ProcessHandle.current().pid()
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def echo_server(sc):
    """The bare TCP echo (bench/jvm/EchoServer.scala) in the driver JVM, from its own jar
    (built by `build/sbt benchEcho/package` when missing)."""
    import glob
    from sparkeras.driver import bridge
    root = os.path.join(HERE, "..")
    jars = glob.glob(os.path.join(HERE, "jvm", "target", "scala-*", "sparkeras-bench-echo*.jar"))
    if not jars:
        subprocess.run([os.path.join(root, "build", "sbt"), "-warn", "benchEcho/package"], cwd=root, check=True)
        jars = glob.glob(os.path.join(HERE, "jvm", "target", "scala-*", "sparkeras-bench-echo*.jar"))
    # One class loader per run: py4j caches methods by name, so a second copy of the class breaks calls.
    if "class" not in _ECHO:
        jvm = sc._jvm
        urls = sc._gateway.new_array(jvm.java.net.URL, 1)
        urls[0] = jvm.java.io.File(jars[0]).toURI().toURL()
        loader = jvm.java.net.URLClassLoader(urls, jvm.org.apache.spark.util.Utils.getContextOrSparkClassLoader())
        _ECHO["class"] = jvm.java.lang.Class.forName("sparkeras.bench.EchoServer", True, loader)
    constructor = _ECHO["class"].getConstructors()[0]
    return constructor.newInstance(bridge.object_array(sc, ["127.0.0.1"]))


# ---------------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.path.join(HERE, "..", "..", "shared", "data", "mnist")
    parser.add_argument("--data", default=default_data)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--child")
    parser.add_argument("--part", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2,
                        help="training workers (1 leaves the parameter server a core of its own, as a cluster's driver has)")
    parser.add_argument("--wire-only", action="store_true", help="only time push+pull against the echo")
    parser.add_argument("--json", help="append the results to this file as one JSON line")
    args = parser.parse_args()
    if args.child == "baseline":
        return child_baseline(args.data, args.epochs)
    if args.child == "ceiling":
        return child_ceiling(args.data, args.epochs, args.part, args.workers)

    import sparkeras
    from sparkeras import SparkModel, to_simple_rdd

    if args.wire_only:
        spark = sparkeras.spark_session("local[2]", "sparkeras-bench", local_only=True, spark_ui_enabled="false")
        for _ in range(3):
            ps, bare, nbytes = wire_timings(spark.sparkContext)
            print(f"push+pull {ps * 1e3:.3f} ms, echo {bare * 1e3:.3f} ms, ratio {ps / bare:.2f}")
        return spark.stop()

    print(f"MNIST from {os.path.abspath(args.data)}; {args.epochs} epochs, batch {BATCH}, {args.workers} workers on local[2]")
    base = run_child(["--child", "baseline", "--data", args.data, "--epochs", str(args.epochs)])
    base_rate = base["samples"] / base["seconds"]
    ceil_rate = ceiling_rate(args.data, args.epochs, args.workers)
    rows = [("keras model.fit (1 process)", base_rate, base["accuracy"])]

    spark = sparkeras.spark_session("local[2]", "sparkeras-bench", local_only=True, spark_ui_enabled="false")
    spark.sparkContext.setLogLevel("ERROR")
    sc = spark.sparkContext
    x_train, x_test, y_train, y_test = load(args.data)
    rdd = to_simple_rdd(sc, x_train, y_train, num_partitions=args.workers).cache()
    rdd.count()
    # Start the Python workers (TensorFlow import) with a different, tiny model.
    import keras
    warm = keras.Sequential([keras.Input((784,)), keras.layers.Dense(4), keras.layers.Dense(10, activation="softmax")])
    warm.compile("adam", "sparse_categorical_crossentropy")
    SparkModel(warm, num_workers=args.workers).fit(rdd, epochs=1, batch_size=1024)

    for name in args.modes.split(","):
        mode, frequency, *overlap = name.split("/")  # ".../overlap": overlap=True, one own step stale
        model = build_model()
        jvm_cpu = driver_cpu_seconds(sc)
        started = time.perf_counter()
        # one TensorFlow thread per worker, as the ceiling's processes have
        spark_model = SparkModel(model, mode=mode, frequency=frequency, num_workers=args.workers, overlap=bool(overlap),
                                 threads_per_worker=1)
        history = spark_model.fit(rdd, epochs=args.epochs, batch_size=BATCH)
        seconds = time.perf_counter() - started
        jvm_cpu = driver_cpu_seconds(sc) - jvm_cpu
        phases = ", ".join("/".join(f"{k} {v:.2f}s" for k, v in w.items()) for w in history.params["worker_seconds"])
        steps = sum(history.params["worker_steps"])
        worker_cpu = sum(history.params["worker_train_cpu_seconds"])
        print(f"{name}: fit {seconds:.2f}s; workers: {phases}; CPU per step: worker {worker_cpu / steps * 1e3:.2f} ms, "
              f"driver JVM {jvm_cpu / steps * 1e3:.2f} ms ({steps} steps)")
        accuracy = float((model.predict(x_test, batch_size=1024, verbose=0).argmax(axis=1) == y_test).mean())
        rows.append((f"sparkeras {name}", len(x_train) * args.epochs / seconds, accuracy))

    ps, bare, nbytes = wire_timings(sc)
    spark.stop()

    print(f"\n{'run':34} {'samples/s':>10} {'x fit':>7} {'of ceiling':>11} {'test acc':>9}")
    for name, rate, acc in rows:
        print(f"{name:34} {rate:10.0f} {rate / base_rate:7.2f} {rate / ceil_rate:11.2f} {acc:9.4f}")
    print(f"{f'compute ceiling ({args.workers}x1-thread steps)':34} {ceil_rate:10.0f} {ceil_rate / base_rate:7.2f} {1:11.2f}")
    print(f"\npush+pull of {nbytes / 1e6:.2f} MB (118k params): parameter server {ps * 1e3:.3f} ms median, "
          f"bare TCP echo {bare * 1e3:.3f} ms, ratio {ps / bare:.2f}")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps({"baseline": base_rate, "ceiling": ceil_rate, "ps_ms": ps * 1e3, "echo_ms": bare * 1e3,
                                "runs": {n: {"rate": r, "ratio": r / base_rate, "accuracy": a} for n, r, a in rows}}) + "\n")


if __name__ == "__main__":
    main()
