"""The compute ceiling, as the benchmarks measure it: one 1-thread process per worker runs the
bare compiled train step (the same concrete-function call the workers use, tensors in) over
its share of the rows, with no communication. Each process traces first, says "ready", and
starts its timer when a line arrives on stdin, so that all of them start together."""
import sys
import time

import numpy as np


def one_thread():
    """TensorFlow on one thread, as each worker of a two-worker job on two cores runs."""
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def bare_steps(model, x, y, batch, epochs, seed):
    """Times `epochs` passes of shuffled batches through the model's compiled train step;
    returns {"seconds", "samples"}."""
    import tensorflow as tf
    model.optimizer.build(model.trainable_weights)
    step = tf.function(lambda a, b: model.train_step((a, b))).get_concrete_function(
        tf.TensorSpec((None,) + x.shape[1:], tf.float32), tf.TensorSpec((None,), tf.as_dtype(y.dtype)))
    step(tf.constant(x[:batch]), tf.constant(y[:batch]))
    rng = np.random.default_rng(seed)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            step(tf.constant(x[idx]), tf.constant(y[idx]))
    return {"seconds": time.perf_counter() - started, "samples": len(x) * epochs}


def run_together(commands, started=None):
    """Starts one process per command (each ending in `bare_steps`), releases them together
    once all are ready, and returns their combined samples per second. `started(pids)` is
    called once they run (the rivals' benchmark samples their memory)."""
    import json
    import subprocess
    procs = [subprocess.Popen(c, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for c in commands]
    if started is not None:
        started([p.pid for p in procs])
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    return sum(r["samples"] for r in results) / max(r["seconds"] for r in results)
