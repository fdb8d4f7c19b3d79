"""The executor side: builds the Keras model once per Python worker process, streams
its partition in mini-batches through compiled TensorFlow steps, and exchanges
gradients or weight deltas with the parameter server as raw bytes."""
import hashlib
import json
import math
import os
import time

import numpy as np

from sparkeras.transport import Connection, encode_push, from_tensor
from sparkeras.wire import sparkeras_pb2 as wire

_models = {}
_process_ready = False


def prepare_process(threads):
    """Once per Python worker: quiet TensorFlow, pin its thread pools, and keep glibc
    from returning multi-MB buffers to the OS (which makes every fresh buffer page-fault)."""
    global _process_ready
    if _process_ready:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tune_malloc()
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, int(threads)))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # TensorFlow was already initialised in this process; keep its pools
    _process_ready = True


def tune_malloc():
    """glibc hands multi-MB buffers back to the OS on free, so every fresh one page-faults;
    raising these thresholds keeps them in the heap (5-10x faster tensor encoding)."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 * 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 512 * 1024 * 1024)  # M_TRIM_THRESHOLD
        libc.mallopt(-2, 64 * 1024 * 1024)   # M_TOP_PAD
    except (OSError, AttributeError):
        pass


class WorkerModel:
    """A Keras model built from its spec, with compiled steps that stay traced across tasks."""

    def __init__(self, model_json, compile_json, custom_objects=None):
        import keras
        import tensorflow as tf

        with keras.utils.custom_object_scope(custom_objects or {}):
            try:
                model = keras.models.model_from_json(model_json)
            except Exception as e:
                custom = _custom_classes(model_json) - set(custom_objects or {})
                hint = (f" The model uses classes Keras does not know by itself: {', '.join(sorted(custom))}; pass them "
                        "to sparkeras as custom_objects={name: class}.") if custom else ""
                reason = " ".join(str(e).split())
                raise ValueError(f"cannot rebuild the Keras model on this executor: {reason}{hint}") from e
            compile_config = json.loads(compile_json) if compile_json else None
            if compile_config:
                model.compile_from_config(compile_config)
        self.model = model
        self.trainable = list(model.trainable_weights)
        self.rest = list(model.non_trainable_weights)
        self.shapes = [tuple(v.shape) for v in self.trainable]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.size = sum(self.sizes)
        self.job = None
        self.weights_key = None
        self._built = False
        self._fresh_optimizer = []
        self._traced_for = None

        sizes, shapes, trainable = self.sizes, self.shapes, self.trainable

        def assign(flat):
            for v, part, shape in zip(trainable, tf.split(flat, sizes), shapes):
                v.assign(tf.reshape(part, shape))

        def assign_and_gradient(flat, x, y):
            # Keras's own train_step on freshly pulled weights, minus applying the
            # update: the server applies it. One call per step keeps TF dispatch cheap.
            assign(flat)
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                loss = model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=None, training=True)
                model._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
            grads = tape.gradient(loss, trainable)
            model.compute_metrics(x, y, y_pred, sample_weight=None)
            return tf.concat([tf.reshape(tf.convert_to_tensor(g), [-1]) for g in grads], 0)

        self._assign_fn = assign
        self._assign_and_gradient_fn = assign_and_gradient
        self.assign_flat = tf.function(assign, input_signature=[tf.TensorSpec([self.size], tf.float32)])
        self.read_flat = tf.function(lambda: tf.concat([tf.reshape(v, [-1]) for v in trainable], 0))
        self.test_step = tf.function(lambda x, y: model.test_step((x, y)), reduce_retracing=True)
        self.predict_step = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def build(self, x, y):
        """Creates optimizer and metric variables eagerly, so compiled steps never have to,
        and traces the hot-path steps once for this data's shapes."""
        import tensorflow as tf
        if not self._built:
            if self.model.optimizer is not None:
                self.model.optimizer.build(self.trainable)
                self._fresh_optimizer = [np.array(v.numpy()) for v in self.model.optimizer.variables]
            self.model.test_step((slice_rows(x, 0, 1), y[:1]))
            self.reset_metrics()
            self._built = True
        xs = x if isinstance(x, (list, tuple)) else [x]
        key = (tuple((a.shape[1:], a.dtype) for a in xs), y.shape[1:], y.dtype)
        if self._traced_for == key:
            return
        x_specs = [tf.TensorSpec((None,) + tuple(a.shape[1:]), tf.as_dtype(a.dtype)) for a in xs]
        x_spec = x_specs if isinstance(x, (list, tuple)) else x_specs[0]
        y_spec = tf.TensorSpec((None,) + tuple(y.shape[1:]), tf.as_dtype(y.dtype))
        flat_spec = tf.TensorSpec([self.size], tf.float32)
        model, gradient_fn = self.model, self._assign_and_gradient_fn
        # Concrete functions skip tf.function's per-call signature matching (~0.2 ms a step);
        # each is traced on first use only, since a job needs one or the other.
        self._concrete = {
            "assign_and_gradient": lambda: tf.function(gradient_fn).get_concrete_function(flat_spec, x_spec, y_spec),
            "train_step": lambda: tf.function(lambda a, b: model.train_step((a, b))).get_concrete_function(x_spec, y_spec),
        }
        self._traced = {}
        self._traced_for = key

    def step(self, name):
        """The compiled step `name` ('assign_and_gradient' or 'train_step') for the current data shapes."""
        if name not in self._traced:
            self._traced[name] = self._concrete[name]()
        return self._traced[name]

    def start_job(self, job_key, initial_weights):
        """Fresh optimizer state and the job's initial weights, keeping the traced steps."""
        if self.job == job_key:
            return
        for v, w in zip(self.trainable + self.rest, initial_weights):
            v.assign(w)
        if self.model.optimizer is not None:
            for v, fresh in zip(self.model.optimizer.variables, self._fresh_optimizer):
                v.assign(fresh)
        self.job = job_key
        self.weights_key = None

    def set_weights(self, key, weights):
        if self.weights_key != key:
            self.model.set_weights(weights)
            self.weights_key = key

    def reset_metrics(self):
        for m in self.model.metrics:
            m.reset_state()

    def metrics(self):
        return {k: float(np.asarray(v)) for k, v in self.model.get_metrics_result().items()}

    def metric_states(self):
        """Every metric's state variables: additive, so partitions combine exactly."""
        return [[np.asarray(v.numpy()) for v in m.variables] for m in self.model.metrics]


def _custom_classes(model_json):
    """Names of the classes in a model config that do not come from Keras itself."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            module = node.get("module") or ""
            if "class_name" in node and not str(module).startswith("keras"):
                found.add(node.get("registered_name") or node["class_name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(json.loads(model_json))
    return found


def get_model(model_json, compile_json, custom_objects=None):
    key = hashlib.sha256((model_json + "\0" + (compile_json or "")).encode()).hexdigest()
    if key not in _models:
        _models[key] = WorkerModel(model_json, compile_json, custom_objects)
    return _models[key]


def materialize(rows, with_labels=True):
    """Stacks an iterator of (features, label) rows (or features alone) into arrays."""
    xs, ys = [], []
    if with_labels:
        for x, y in rows:
            xs.append(x)
            ys.append(y)
    else:
        xs = list(rows)
    if not xs:
        return None, None
    x = np.asarray(np.stack([np.asarray(v) for v in xs]), dtype=np.float32)
    y = np.stack([np.asarray(v) for v in ys]) if with_labels else None
    if y is not None and y.dtype.kind == "f":
        y = y.astype(np.float32)
    return x, y


class TrainingTask:
    """One partition's share of a training job: every epoch, in one Spark task."""

    def __init__(self, host, port, token, job_id, threads, validation_split=0.0, custom_objects=None):
        self.host, self.port, self.token, self.job_id = host, port, token, job_id
        self.threads, self.validation_split, self.custom_objects = threads, validation_split, custom_objects

    def run(self, rows, partition=0, attempt=0):
        """Trains on an iterator of (features, label) rows."""
        started = time.perf_counter()
        prepare_process(self.threads)
        x, y = materialize(rows)
        return self.run_arrays(x, y, partition, attempt, started)

    def run_arrays(self, x, y, partition=0, attempt=0, started=None):
        """Trains on arrays already in this worker (x is a list for multi-input models)."""
        started = started or time.perf_counter()
        prepare_process(self.threads)
        loaded = time.perf_counter()
        n_total = 0 if x is None else rows_of(x)
        # The validation rows are the last ones, as with Keras's validation_split.
        n_val = int(n_total * self.validation_split)
        n_train = n_total - n_val
        with Connection(self.host, self.port) as conn:
            welcome = conn.hello(self.token, wire.WORKER, partition, attempt, n_train).welcome
            if n_train == 0:
                conn.call(_envelope(done=wire.Done()))
                return {"partition": partition, "samples": 0}
            cfg = welcome.config
            wm = get_model(cfg.model_json, cfg.compile_json, self.custom_objects)
            wm.build(x, y)
            wm.start_job(self.job_id, [from_tensor(t) for t in cfg.initial_weights])
            base = np.array(from_tensor(welcome.weights), dtype=np.float32)
            wm.assign_flat(base)
            loop = _TrainingLoop(conn, wm, cfg, welcome, base)
            ready = time.perf_counter()
            loop.run(slice_rows(x, 0, n_train), y[:n_train], slice_rows(x, n_train, n_total), y[n_train:],
                     seed=cfg.seed + 7919 * partition)
            conn.call(_envelope(done=wire.Done()))
        return {"partition": partition, "samples": n_train * cfg.epochs, "steps": loop.steps,
                "seconds": {"load": loaded - started, "setup": ready - loaded, "train": time.perf_counter() - ready}}


class _TrainingLoop:
    def __init__(self, conn, wm, cfg, welcome, base):
        self.conn, self.wm, self.cfg = conn, wm, cfg
        self.version = welcome.version
        self.base = base
        self.steps_per_epoch = welcome.steps_per_epoch
        self.window = max(1, cfg.communication_window)
        self.per_batch_gradients = cfg.frequency == "batch" and self.window == 1
        self.steps = 0
        # Per-batch gradients: the pulled weights are assigned inside the next gradient step.
        self.pending = None

    def run(self, x, y, x_val, y_val, seed):
        import tensorflow as tf
        cfg, wm = self.cfg, self.wm
        bs = max(1, cfg.batch_size)
        n = rows_of(x)
        steps = self.steps_per_epoch or math.ceil(n / bs)
        rng = np.random.default_rng(seed)
        gradient_step = wm.step("assign_and_gradient") if self.per_batch_gradients else None
        train_step = None if self.per_batch_gradients else wm.step("train_step")
        for epoch in range(cfg.epochs):
            order = rng.permutation(n) if cfg.shuffle else np.arange(n)
            wm.reset_metrics()
            since_push = 0
            for s in range(steps):
                # Synchronous workers all run the same number of steps; smaller partitions wrap around.
                if self.steps_per_epoch:
                    idx = order.take(np.arange(s * bs, (s + 1) * bs), mode="wrap")
                else:
                    idx = order[s * bs:(s + 1) * bs]
                xb, yb = take_rows(x, idx), y[idx]
                if self.per_batch_gradients:
                    grads = gradient_step(tf.constant(self.base), constant(xb), tf.constant(yb))
                    self._exchange(wire.GRADIENT, grads.numpy(), len(idx))
                else:
                    train_step(constant(xb), tf.constant(yb))
                    since_push += len(idx)
                    if cfg.frequency == "batch" and (s + 1) % self.window == 0:
                        self._push_delta(since_push)
                        since_push = 0
                self.steps += 1
            if cfg.frequency == "epoch" or since_push:
                self._push_delta(since_push or n)
            if self.per_batch_gradients:
                wm.assign_flat(self.base)
            self._report(epoch, n, x_val, y_val)

    def _push_delta(self, samples):
        current = self.wm.read_flat().numpy()
        self._exchange(wire.DELTA, current - self.base, samples)

    def _exchange(self, kind, values, samples):
        reply = self.conn.call_parts(encode_push(kind, self.version, samples, values)).weights
        self.version = reply.version
        self.base = from_tensor(reply.values)
        if not self.per_batch_gradients:
            self.wm.assign_flat(self.base)

    def _report(self, epoch, n, x_val, y_val):
        env = wire.Envelope()
        m = env.epoch_metrics
        m.epoch = epoch
        m.samples = n
        for k, v in self.wm.metrics().items():
            m.values[k] = v
        n_val = rows_of(x_val)
        if n_val:
            self.wm.reset_metrics()
            bs = max(1, self.cfg.batch_size)
            for i in range(0, n_val, bs):
                self.wm.test_step(slice_rows(x_val, i, i + bs), y_val[i:i + bs])
            m.val_samples = n_val
            for k, v in self.wm.metrics().items():
                m.val_values[k] = v
        self.conn.call(env)


def rows_of(x):
    return len(x[0]) if isinstance(x, (list, tuple)) else len(x)


def slice_rows(x, start, stop):
    return [a[start:stop] for a in x] if isinstance(x, (list, tuple)) else x[start:stop]


def take_rows(x, idx):
    return [a[idx] for a in x] if isinstance(x, (list, tuple)) else x[idx]


def constant(x):
    import tensorflow as tf
    return [tf.constant(a) for a in x] if isinstance(x, (list, tuple)) else tf.constant(x)


def _envelope(**body):
    env = wire.Envelope()
    for name, message in body.items():
        getattr(env, name).CopyFrom(message)
    return env


def predict_partition(chunks, weights_key, weights, model_json, compile_json, custom_objects, threads, batch_size):
    """Predictions for an iterator of feature arrays (row blocks), in order."""
    prepare_process(threads)
    wm = get_model(model_json, compile_json, custom_objects)
    wm.set_weights(weights_key, weights)
    for block in chunks:
        block = np.asarray(block, dtype=np.float32)
        for i in range(0, len(block), batch_size):
            yield np.asarray(wm.predict_step(block[i:i + batch_size]))


def evaluate_partition(x, y, weights_key, weights, model_json, compile_json, custom_objects, threads, batch_size):
    """The metric states after Keras's test_step over this partition; summed across partitions."""
    prepare_process(threads)
    wm = get_model(model_json, compile_json, custom_objects)
    wm.build(x, y)
    wm.set_weights(weights_key, weights)
    wm.reset_metrics()
    for i in range(0, rows_of(x), batch_size):
        wm.test_step(slice_rows(x, i, i + batch_size), y[i:i + batch_size])
    return wm.metric_states()


if __name__ == "__main__":  # python -m sparkeras.worker: a worker started by the JVM (Scala API)
    from sparkeras.jvm_worker import main
    main()
