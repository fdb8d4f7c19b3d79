"""sparkeras beside what its users would otherwise run, on four workloads, in one run (issue 14).

Workloads: the MNIST MLP (784-128-128-10, batch 64), the Keras MNIST convnet (Conv2D 32 and
64, batch 128), a wide MLP (784-1024-1024-10, 1.86M parameters, batch 128) and an LSTM(64)
on a synthetic sequence task (batch 64). Batch sizes are per worker; one-process runs use
twice that, the same global batch.

For each workload, every run in a fresh process tree (its peak resident memory, all
processes together, is sampled every 0.1 s):
- `model.fit` in one process (Keras 3, TensorFlow's default threads on both cores);
- the compute ceiling: two 1-thread processes running the bare compiled train step on half
  the rows each, no communication;
- `MirroredStrategyRunner(num_slots=2)` from spark-tensorflow-distributor on local[2]: TensorFlow's
  synchronous all-reduce (MultiWorkerMirroredStrategy). It trains with tf_keras: Keras 3's
  fit fails under that strategy with two workers ("Attempt to convert a value (PerReplica...)",
  TensorFlow 2.21, Keras 3.15). Skipped, and said so, unless both packages are installed:
  `.venv/bin/pip install spark-tensorflow-distributor tf_keras~=<TensorFlow's minor version>`;
- sparkeras synchronous/batch, asynchronous/batch and asynchronous/epoch, 2 workers on
  local[2], after a warm-up fit of a different model (the workers' TensorFlow import).

Printed per run: samples/s, × model.fit, fraction of the ceiling, × MirroredStrategyRunner,
test accuracy, peak RSS of the process tree.

    .venv/bin/python bench/rivals_bench.py [--data ../shared/data/mnist] [--workloads mlp,convnet,wide,lstm]
        [--rows N] [--epochs N] [--json FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples", "python"))

import numpy as np  # noqa: E402

import ceiling  # noqa: E402  (bench/, beside this file)

# name: (per-worker batch, epochs, training rows by default)
WORKLOADS = {"mlp": (64, 3, 60000), "convnet": (128, 1, 20000), "wide": (128, 1, 60000), "lstm": (64, 3, 20000)}
SPARKERAS_RUNS = ["synchronous/batch", "asynchronous/batch", "asynchronous/epoch"]
SEQUENCE, FEATURES, CLASSES = 20, 8, 4


# ------------------------------------------------------------------ workloads

def build(name, keras):
    """The workload's compiled model, with `keras` being Keras 3 or tf_keras (the same calls)."""
    keras.utils.set_random_seed(0)
    layers = keras.layers
    if name == "mlp":
        body = [layers.Input((784,)), layers.Dense(128, activation="relu"), layers.Dropout(0.2),
                layers.Dense(128, activation="relu"), layers.Dropout(0.2), layers.Dense(10, activation="softmax")]
    elif name == "wide":
        body = [layers.Input((784,)), layers.Dense(1024, activation="relu"), layers.Dense(1024, activation="relu"),
                layers.Dense(10, activation="softmax")]
    elif name == "convnet":  # the Keras example "Simple MNIST convnet"
        body = [layers.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                layers.Dropout(0.5), layers.Dense(10, activation="softmax")]
    elif name == "lstm":
        body = [layers.Input((SEQUENCE, FEATURES)), layers.LSTM(64), layers.Dense(CLASSES, activation="softmax")]
    else:
        raise ValueError(f"unknown workload {name!r}; one of {', '.join(WORKLOADS)}")
    model = keras.Sequential(body)
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(name, source, rows, train=True):
    """(x_train, x_test, y_train, y_test): MNIST from `source`, or the synthetic sequences;
    with train=False, only the test pair (the training pair is None)."""
    if name == "lstm":
        # Four classes from two signals in the sequence: the sign of feature 0 summed over all
        # steps, and of feature 1 over the last five. An LSTM must carry both through time.
        rng = np.random.default_rng(0)
        x = rng.standard_normal((rows + rows // 5, SEQUENCE, FEATURES)).astype("float32")
        y = (x[:, :, 0].sum(1) > 0).astype("int64") * 2 + (x[:, -5:, 1].sum(1) > 0).astype("int64")
        return (x[:rows] if train else None), x[rows:], (y[:rows] if train else None), y[rows:]
    from demo import load_mnist
    x_train, x_test, y_train, y_test = load_mnist(source, train=train)
    if train:
        x_train, y_train = x_train[:rows], y_train[:rows]
    if name == "convnet":
        x_test = x_test.reshape(-1, 28, 28, 1)
        x_train = x_train.reshape(-1, 28, 28, 1) if train else None
    return x_train, x_test, y_train, y_test


def spec(args):
    batch, epochs, rows = WORKLOADS[args.workload]
    return batch, args.epochs or epochs, args.rows or rows


# ------------------------------------------------------------ child processes

def child_fit(args):
    """model.fit in this one process, TensorFlow's default threads, the global batch."""
    import keras
    batch, epochs, rows = spec(args)
    x_train, x_test, y_train, y_test = data(args.workload, args.data, rows)
    model = build(args.workload, keras)
    started = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=2 * batch, verbose=0)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "samples": len(x_train) * epochs, "accuracy": model.evaluate(x_test, y_test, verbose=0)[1]}


def child_ceiling(args):
    """One 1-thread process: the bare compiled train step on its half of the rows."""
    import keras
    ceiling.one_thread()
    batch, epochs, rows = spec(args)
    x_train, _, y_train, _ = data(args.workload, args.data, rows)
    model = build(args.workload, keras)
    return ceiling.bare_steps(model, x_train[args.part::2], y_train[args.part::2], batch, epochs, seed=args.part)


def _session():
    import sparkeras
    spark = sparkeras.spark_session("local[2]", "sparkeras-rivals-bench", local_only=True, spark_ui_enabled="false")
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def child_mirrored(args):
    """MirroredStrategyRunner(num_slots=2) on local[2]; the timer runs inside the training function."""
    from spark_tensorflow_distributor import MirroredStrategyRunner
    spark = _session()
    workload, source, (batch, epochs, rows) = args.workload, args.data, spec(args)

    def train():
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        sys.path.insert(0, HERE)
        import tensorflow as tf
        import tf_keras
        import rivals_bench
        x_train, x_test, y_train, y_test = rivals_bench.data(workload, source, rows)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        with strategy.scope():
            model = rivals_bench.build(workload, tf_keras)
        dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(len(x_train), seed=0).batch(2 * batch)
        started = time.perf_counter()
        model.fit(dataset, epochs=epochs, verbose=0)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "samples": len(x_train) * epochs,
                "accuracy": float(model.evaluate(x_test, y_test, verbose=0)[1])}

    result = MirroredStrategyRunner(num_slots=2, use_gpu=False, use_custom_strategy=True).run(train)
    spark.stop()
    return result


def child_sparkeras(args):
    """SparkModel.fit with 2 workers, after a warm-up fit of another model."""
    import keras
    from sparkeras import SparkModel, to_simple_rdd
    spark = _session()
    batch, epochs, rows = spec(args)
    workload, source = args.workload, args.data

    def half(part):
        # The executors load the rows, as MirroredStrategyRunner's workers do: the driver holds
        # none of them (a user's data would come from storage too).
        sys.path.insert(0, HERE)
        import rivals_bench
        x, _, y, _ = rivals_bench.data(workload, source, rows)
        return zip(x[part::2], y[part::2])

    rdd = spark.sparkContext.parallelize([0, 1], 2).flatMap(half)
    _, x_test, _, y_test = data(args.workload, args.data, rows, train=False)
    warm = keras.Sequential([keras.Input(x_test.shape[1:]), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    warm.compile("adam", "sparse_categorical_crossentropy")
    SparkModel(warm, num_workers=2).fit(rdd, epochs=1, batch_size=1024)
    mode, frequency, *overlap = args.system.split("/")  # ".../overlap": overlap=True
    model = build(args.workload, keras)
    started = time.perf_counter()
    SparkModel(model, mode=mode, frequency=frequency, num_workers=2, overlap=bool(overlap)).fit(
        rdd, epochs=epochs, batch_size=batch)
    seconds = time.perf_counter() - started
    accuracy = float((model.predict(x_test, batch_size=1024, verbose=0).argmax(axis=1) == y_test).mean())
    spark.stop()
    return {"seconds": seconds, "samples": rows * epochs, "accuracy": accuracy}


# ------------------------------------------------------------------ the parent

def tree_rss_mb(root, by_role=None):
    """Resident memory of `root` and all its descendants, in MB; with `by_role`, adds each
    process's share to it under a name for what the process is."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0.0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm") as f:
                mb = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
            if by_role is not None:
                role = _role(pid, root)
                by_role[role] = by_role.get(role, 0.0) + mb
            total += mb
        except (OSError, ValueError, IndexError):
            pass
    return total


def _role(pid, root):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        command = f.read().replace(b"\0", b" ").decode(errors="replace")
    if pid == root:  # model.fit and the ceiling run in their processes alone
        return "Keras process" if "--child fit" in command or "--child ceiling" in command else "Python driver"
    if "java" in command.split(" ")[0]:
        return "driver JVM"
    if "pyspark.daemon" in command or "pyspark/daemon" in command:
        return "Python workers"  # the daemon and the workers it forks share its command line
    return "other"


class PeakMemory:
    """Samples the resident memory of process trees every 0.1 s; keeps the peak of their sum."""

    def __init__(self, roots):
        self.roots, self.peak, self.breakdown, self._stop = roots, 0.0, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            roles = {}
            total = sum(tree_rss_mb(r, roles) for r in self.roots)
            if total > self.peak:
                self.peak, self.breakdown = total, roles
            self._stop.wait(0.1)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


def child_args(args, system, part=None):
    out = [sys.executable, __file__, "--child", system, "--workload", args.workload, "--data", args.data]
    out += ["--rows", str(args.rows)] if args.rows else []
    out += ["--epochs", str(args.epochs)] if args.epochs else []
    return out + (["--part", str(part)] if part is not None else [])


def run(args, system):
    """One run in a child process: its result and the peak memory of its process tree."""
    proc = subprocess.Popen(child_args(args, system), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory([proc.pid])
    out, err = proc.communicate()
    peak = memory.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"{args.workload}, {system}: {err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    return dict(result, rate=result["samples"] / result["seconds"], rss_mb=peak, rss_by_role=memory.breakdown)


def ceiling_rate(args):
    memory = []
    rate = ceiling.run_together([child_args(args, "ceiling", part) for part in (0, 1)],
                                started=lambda pids: memory.append(PeakMemory(pids)))
    return {"rate": rate, "rss_mb": memory[0].stop()}


def mirrored_available():
    try:
        import spark_tensorflow_distributor  # noqa: F401
        import tf_keras  # noqa: F401
        return True
    except ImportError:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "mnist"))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--rows", type=int, help="training rows of every workload (default: each its own)")
    parser.add_argument("--epochs", type=int, help="epochs of every workload (default: each its own)")
    parser.add_argument("--runs", default=",".join(SPARKERAS_RUNS), help="sparkeras's mode/frequency runs")
    parser.add_argument("--json", help="append the results to this file as one JSON line")
    parser.add_argument("--child")
    parser.add_argument("--system")
    parser.add_argument("--workload")
    parser.add_argument("--part", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        chosen = {"fit": child_fit, "ceiling": child_ceiling, "mirrored": child_mirrored}.get(args.child, child_sparkeras)
        args.system = args.child
        print(json.dumps(chosen(args)))
        return

    mirrored = mirrored_available()
    if not mirrored:
        print("MirroredStrategyRunner skipped: spark-tensorflow-distributor and tf_keras are not both installed")
    everything = {}
    for workload in args.workloads.split(","):
        args.workload = workload
        batch, epochs, rows = spec(args)
        print(f"\n{workload}: {rows} training rows, {epochs} epochs, batch {batch} per worker ({2 * batch} in one process)")
        rows_out = {"model.fit": run(args, "fit"), "ceiling": ceiling_rate(args)}
        if mirrored:
            rows_out["MirroredStrategyRunner"] = run(args, "mirrored")
        for name in args.runs.split(","):
            rows_out[f"sparkeras {name}"] = run(args, name)
        base, ceil = rows_out["model.fit"]["rate"], rows_out["ceiling"]["rate"]
        rival = rows_out.get("MirroredStrategyRunner", {}).get("rate")
        print(f"{'run':34} {'samples/s':>10} {'x fit':>6} {'of ceiling':>10} {'x MSR':>6} {'test acc':>9} {'peak RSS MB':>12}")
        for name, r in rows_out.items():
            versus = f"{r['rate'] / rival:6.2f}" if rival else f"{'-':>6}"
            accuracy = f"{r['accuracy']:9.4f}" if "accuracy" in r else f"{'':>9}"
            print(f"{name:34} {r['rate']:10.0f} {r['rate'] / base:6.2f} {r['rate'] / ceil:10.2f} {versus} {accuracy} "
                  f"{r['rss_mb']:12.0f}")
        print("peak RSS by process, MB: " + "; ".join(
            f"{name}: " + ", ".join(f"{role} {mb:.0f}" for role, mb in sorted(r["rss_by_role"].items()))
            for name, r in rows_out.items() if r.get("rss_by_role")))
        everything[workload] = rows_out
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(everything) + "\n")


if __name__ == "__main__":
    main()
