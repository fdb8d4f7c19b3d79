"""dist-keras's algorithms side by side on MNIST, in one run: test accuracy, time per epoch and
staleness for each algorithm with 2, 4 and 8 workers, then AGN at 8 workers with a window
of 2 and of 20 (the shape of the thesis's result: small windows at many workers lose accuracy).

Workload: the MLP of bench/mnist_bench.py (784-128-128-10, dropout 0.2; Adam 0.001, 0.003 for
AGN and ADAG, whose centre moves num_workers / window as fast as one worker), batch 64, 10 epochs, 60k training /
10k test rows, asynchronous mode on local[8] (more workers than this machine's 2 cores: the
question is convergence under staleness; samples/s is in bench/mnist_bench.py).
Exits with status 1 if an algorithm with 4 workers stays below 0.97 test accuracy.

    .venv/bin/python bench/algorithms_bench.py [--data ../shared/data/mnist] [--epochs 10]
        [--algorithms downpour,agn,...] [--workers 2,4,8] [--json results.jsonl]
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from mnist_bench import BATCH, build_model, load  # noqa: E402  (the same workload and data loader)

ALGORITHMS = ["default", "downpour", "agn", "adag", "dynsgd", "aeasgd", "eamsgd", "averaging", "ensemble"]
BAR = 0.97  # the bar for every algorithm with 4 workers in 10 epochs
# AGN and ADAG divide each worker's progress by the window, so the centre moves num_workers /
# window as fast as one worker does: their workers train with a larger learning rate.
WORKER_LEARNING_RATE = {"agn": 0.003, "adag": 0.003}


def run(sc, rdd, x_test, y_test, algorithm, workers, epochs, window=None):
    """One fit; returns (test accuracy, seconds per epoch, mean staleness, max staleness)."""
    from sparkeras import SparkModel
    model = build_model()
    if algorithm in WORKER_LEARNING_RATE:
        model.optimizer.learning_rate.assign(WORKER_LEARNING_RATE[algorithm])
    options = {} if algorithm == "default" else {"algorithm": algorithm, "communication_window": window}
    spark_model = SparkModel(model, mode="asynchronous", num_workers=workers, **options)
    started = time.perf_counter()
    history = spark_model.fit(rdd, epochs=epochs, batch_size=BATCH)
    seconds = time.perf_counter() - started
    trained = spark_model.master_network  # the ensemble's averaging model for 'ensemble'
    accuracy = float((trained.predict(x_test, batch_size=1024, verbose=0).argmax(axis=1) == y_test).mean())
    staleness = history.params["staleness"]
    pushes = sum(staleness["pushes"])
    mean = sum(m * n for m, n in zip(staleness["mean"], staleness["pushes"])) / pushes if pushes else 0.0
    return accuracy, seconds / epochs, mean, max(staleness["max"] or [0])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "mnist"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--workers", default="2,4,8")
    parser.add_argument("--json", help="append the results to this file as one JSON line")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    import sparkeras
    from sparkeras import SparkModel, to_simple_rdd
    spark = sparkeras.spark_session(f"local[{max(counts + [8])}]", "sparkeras-algorithms-bench", local_only=True,
                                    spark_ui_enabled="false")
    spark.sparkContext.setLogLevel("ERROR")
    sc = spark.sparkContext
    x_train, x_test, y_train, y_test = load(args.data)
    rdd = to_simple_rdd(sc, x_train, y_train, num_partitions=max(counts)).cache()
    rdd.count()
    # Start every Python worker (TensorFlow import) before timing anything.
    import keras
    warm = keras.Sequential([keras.Input((784,)), keras.layers.Dense(4), keras.layers.Dense(10, activation="softmax")])
    warm.compile("adam", "sparse_categorical_crossentropy")
    SparkModel(warm, num_workers=max(counts)).fit(rdd, epochs=1, batch_size=1024)

    print(f"MNIST from {os.path.abspath(args.data)}; {args.epochs} epochs, batch {BATCH}, asynchronous, "
          f"local[{max(counts + [8])}] on {os.cpu_count()} cores", flush=True)
    results = {}
    runs = [(a, n, None) for a in args.algorithms.split(",") for n in counts]
    if "agn" in args.algorithms.split(","):
        runs += [("agn", 8, 2), ("agn", 8, 20)]
    for algorithm, workers, window in runs:
        accuracy, per_epoch, mean, worst = run(sc, rdd, x_test, y_test, algorithm, workers, args.epochs, window)
        name = algorithm if window is None else f"{algorithm} (window {window})"
        results.setdefault(name, {})[workers] = {"accuracy": accuracy, "seconds_per_epoch": per_epoch,
                                                 "staleness_mean": mean, "staleness_max": worst}
        print(f"  {name:20} {workers} workers: test accuracy {accuracy:.4f}, {per_epoch:.2f} s/epoch, "
              f"staleness mean {mean:.2f} max {worst}", flush=True)
    spark.stop()

    print(f"\n{'algorithm':20}" + "".join(f"{f'{n} workers: acc':>17} {'s/epoch':>8} {'stale':>6}" for n in counts))
    for name, by_workers in results.items():
        cells = []
        for n in counts:
            r = by_workers.get(n)
            cells.append(f"{r['accuracy']:17.4f} {r['seconds_per_epoch']:8.2f} {r['staleness_mean']:6.2f}" if r
                         else f"{'':17} {'':8} {'':6}")
        print(f"{name:20}" + "".join(cells))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps({"epochs": args.epochs, "results": results}) + "\n")
    below = [name for name, r in results.items() if "window" not in name and 4 in r and r[4]["accuracy"] < BAR]
    if below:
        print(f"\nbelow {BAR} with 4 workers: {', '.join(below)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
