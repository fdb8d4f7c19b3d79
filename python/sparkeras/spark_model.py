"""The elephas-compatible entry point: train a compiled Keras model on an RDD through
the parameter server in the driver JVM, then predict and evaluate on the executors."""
import json
import os
import sys
import threading
import time
import uuid
import zipfile

import numpy as np

from sparkeras import jvm, model_spec
from sparkeras.model_spec import ModelSpecError
from sparkeras.transport import Connection, from_tensor, to_tensor
from sparkeras.wire import sparkeras_pb2 as wire
from sparkeras import worker

_CONFIG_ENTRY = "sparkeras.json"


class TrainingFailed(RuntimeError):
    """Training failed on an executor; the message carries the worker's own error."""

    @classmethod
    def from_spark(cls, error):
        import re
        lines = str(error).splitlines()
        # The Python traceback ends with "SomeError: message", which may run over several lines.
        starts = [i for i, l in enumerate(lines) if re.match(r"^\s*[\w.]+(Error|Exception|Failed): ", l)
                  and not l.strip().startswith(("py4j", "org.apache", "java."))]
        if not starts:
            return cls(f"training failed on an executor: {str(error)[:2000]}")
        message = []
        for line in lines[starts[-1]:]:
            if line.strip().startswith(("at ", "Caused by", "org.apache", "py4j", "java.")) or not line.strip():
                break
            message.append(line.strip())
        return cls("training failed on an executor: " + " ".join(message))


class History:
    """What `model.fit` returns in Keras: `history[name]` is one value per epoch."""

    def __init__(self, history, epochs, params=None):
        self.history = history
        self.epoch = list(range(epochs))
        self.params = params or {}

    def __repr__(self):
        return f"History({self.history!r})"


class SparkModel:
    """Trains a compiled Keras model on Spark; the elephas API, with a JVM parameter server.

    mode: 'synchronous' (averaged gradients, or averaged weights with frequency='epoch'),
    'asynchronous' (each push applied as it arrives, under a lock) or 'hogwild' (no lock).
    frequency: 'epoch' (workers train locally and push the change in their weights once per
    epoch) or 'batch' (workers push a gradient every batch, or local progress every
    `communication_window` batches).
    merge: how asynchronous and hogwild modes apply a pushed change in weights: 'average'
    (default) moves the master weights by change / num_workers, so that after every worker
    has pushed once they hold the mean of their progress; 'sum' adds each change whole, as
    elephas does, which overshoots with adaptive optimizers.
    """

    def __init__(self, model, mode="asynchronous", frequency="epoch", parameter_server_mode="socket",
                 num_workers=None, custom_objects=None, batch_size=32, port=None, *args,
                 communication_window=1, merge="average", max_frame_mb=1024, threads_per_worker=None, **kwargs):
        model_spec.check_mode(mode, frequency)
        if parameter_server_mode not in ("http", "socket"):
            raise ModelSpecError(f"parameter_server_mode must be 'http' or 'socket'; got {parameter_server_mode!r}")
        if num_workers is not None and int(num_workers) < 1:
            raise ModelSpecError(f"num_workers must be at least 1; got {num_workers}")
        if merge not in ("average", "sum"):
            raise ModelSpecError(f"merge must be 'average' or 'sum'; got {merge!r}")
        if int(communication_window) < 1:
            raise ModelSpecError(f"communication_window must be at least 1; got {communication_window}")
        self._master_network = model
        self.mode = mode
        self.frequency = frequency
        # The JVM server speaks one protocol; elephas's server choice and port are accepted and ignored.
        self.parameter_server_mode = parameter_server_mode
        self.port = port
        self.num_workers = None if num_workers is None else int(num_workers)
        self.custom_objects = custom_objects or {}
        self.batch_size = int(batch_size)
        self.communication_window = int(communication_window)
        self.merge = merge
        self.max_frame_bytes = int(max_frame_mb) * (1 << 20)
        self.threads_per_worker = threads_per_worker
        self.kwargs = kwargs
        self.training_histories = []

    # elephas exposes the Keras model under these names
    @property
    def master_network(self):
        return self._master_network

    @master_network.setter
    def master_network(self, model):
        self._master_network = model

    def get_config(self):
        return {
            "mode": self.mode, "frequency": self.frequency, "num_workers": self.num_workers,
            "batch_size": self.batch_size, "communication_window": self.communication_window,
            "merge": self.merge, "parameter_server_mode": self.parameter_server_mode,
        }

    # ---------------------------------------------------------------- training

    def fit(self, rdd, epochs=10, batch_size=None, verbose=0, validation_split=0.0, shuffle=True, seed=None, **kwargs):
        """Trains on an RDD of (features, label) pairs; returns a Keras-style History and
        leaves the trained weights in the Keras model."""
        model = self._master_network
        batch_size = self._check_fit_args(epochs, batch_size, validation_split)
        sc = _use_driver_python_locally(rdd.context)
        first = _first_row(rdd)
        if not (isinstance(first, (tuple, list)) and len(first) == 2):
            raise ModelSpecError(
                "fit expects an RDD of (features, label) pairs, as made by sparkeras.utils.rdd_utils.to_simple_rdd; "
                f"the first element is a {type(first).__name__}")
        model_spec.check_sample(model, first[0], first[1], where="the RDD")

        num_workers = self._num_workers(sc)
        if rdd.getNumPartitions() != num_workers:
            rdd = rdd.repartition(num_workers)
        return self._train(sc, num_workers, lambda task: self._run_stage(rdd, task), epochs, batch_size,
                           verbose, validation_split, shuffle, seed)

    def fit_frame(self, arrays, n_features, shapes, epochs=10, batch_size=None, verbose=0, validation_split=0.0,
                  shuffle=True, seed=None):
        """Trains on a DataFrame of flat array columns f0..fk and y (see sparkeras.ml.data),
        read by the executors through Arrow batches."""
        from sparkeras.ml.data import arrays_from_batches
        batch_size = self._check_fit_args(epochs, batch_size, validation_split)
        sc = _use_driver_python_locally(arrays.sparkSession.sparkContext)
        num_workers = self._num_workers(sc)
        if arrays.rdd.getNumPartitions() != num_workers:
            arrays = arrays.repartition(num_workers)
        barrier = self.mode == "synchronous"

        def launch(task):
            def run(batches):
                import pyarrow as pa
                from pyspark import TaskContext
                ctx = TaskContext.get()
                x, y = arrays_from_batches(batches, n_features, shapes)
                result = task.run_arrays(x, y, ctx.partitionId(), ctx.attemptNumber())
                yield pa.RecordBatch.from_pylist([{"result": json.dumps(result)}])
            rows = arrays.mapInArrow(run, "result string", barrier=barrier).collect()
            return [json.loads(r["result"]) for r in rows]
        return self._train(sc, num_workers, launch, epochs, batch_size, verbose, validation_split, shuffle, seed)

    def _check_fit_args(self, epochs, batch_size, validation_split):
        """Everything about a fit that can be refused before Spark work; returns the batch size."""
        model = self._master_network
        batch_size = int(batch_size or self.batch_size)
        model_spec.check_compiled(model)
        _check_positive(epochs=epochs, batch_size=batch_size)
        if not 0.0 <= float(validation_split) < 1.0:
            raise ModelSpecError(f"validation_split must be in [0, 1); got {validation_split}")
        model_spec.server_rule(model, self.frequency, self.communication_window)  # fails early if unsupported
        return batch_size

    def _num_workers(self, sc):
        num_workers = self.num_workers or sc.defaultParallelism
        if self.mode == "synchronous":
            slots = _task_slots(sc)
            if num_workers > slots:
                raise ModelSpecError(
                    f"synchronous training runs one barrier task per worker, all at once: num_workers={num_workers} "
                    f"but the cluster has {slots} task slots. Lower num_workers or add executors")
        return num_workers

    def _train(self, sc, num_workers, launch, epochs, batch_size, verbose, validation_split, shuffle, seed):
        """Starts a parameter server, runs `launch(task)` as the Spark stage, and copies the
        trained weights into the Keras model."""
        model = self._master_network
        rule, params = model_spec.server_rule(model, self.frequency, self.communication_window)
        coordinator = jvm.new_coordinator(sc, self.max_frame_bytes)
        try:
            host, port, token = coordinator.getHost(), coordinator.getPort(), coordinator.getToken()
            job_id = uuid.uuid4().hex
            config = self._job_config(model, rule, params, num_workers, epochs, batch_size,
                                      validation_split, shuffle, seed)
            with Connection(host, port) as driver:
                driver.hello(token, wire.DRIVER)
                env = wire.Envelope()
                env.job_config.CopyFrom(config)
                driver.call(env)
                task = worker.TrainingTask(host, port, token, job_id, self._threads(sc), float(validation_split),
                                           self.custom_objects)
                started = time.time()
                with _Progress(coordinator, epochs, num_workers, verbose):
                    try:
                        results = launch(task)
                    except Exception as e:
                        raise TrainingFailed.from_spark(e) from e
                elapsed = time.time() - started
                weights = driver.call(_pull()).weights
                history = driver.call(_history_request()).history
            _assign_trainable(model, from_tensor(weights.values))
        finally:
            coordinator.stop()
        values = {name: [row.values[name] for row in history.epochs if name in row.values] for name in history.names}
        results = sorted(results, key=lambda r: r["partition"])
        result = History(values, len(history.epochs), {
            "epochs": epochs, "batch_size": batch_size, "num_workers": num_workers, "mode": self.mode,
            "frequency": self.frequency, "seconds": elapsed,
            "worker_steps": [r.get("steps", 0) for r in results],
            "worker_seconds": [r.get("seconds", {}) for r in results]})
        self.training_histories.append(result.history)
        if verbose:
            print(f"sparkeras: trained in {elapsed:.1f}s " + " ".join(
                f"{k}={v[-1]:.4f}" for k, v in values.items() if v), file=sys.stderr)
        return result

    def _job_config(self, model, rule, params, num_workers, epochs, batch_size, validation_split, shuffle, seed):
        config = wire.JobConfig(
            mode=self.mode, frequency=self.frequency, num_workers=num_workers, epochs=int(epochs),
            batch_size=batch_size, validation_split=float(validation_split),
            communication_window=self.communication_window,
            model_json=model_spec.model_json(model), compile_json=model_spec.compile_json(model),
            optimizer_class=rule, shuffle=bool(shuffle),
            delta_scale=1.0 / num_workers if self.merge == "average" else 1.0,
            seed=int(seed) if seed is not None else int.from_bytes(os.urandom(4), "little"))
        for k, v in params.items():
            config.optimizer_params[k] = v
        for w in model_spec.trainable_and_rest(model):
            to_tensor(np.asarray(w, dtype=np.float32), out=config.initial_weights.add())
        config.trainable_sizes.extend(int(np.prod(v.shape)) for v in model.trainable_weights)
        return config

    def _threads(self, sc):
        if self.threads_per_worker:
            return int(self.threads_per_worker)
        return int(sc.getConf().get("spark.task.cpus", "1"))

    def _run_stage(self, rdd, task):
        if self.mode == "synchronous":
            def run_barrier(rows):
                from pyspark import BarrierTaskContext
                ctx = BarrierTaskContext.get()
                yield task.run(rows, ctx.partitionId(), ctx.attemptNumber())
            try:
                return rdd.barrier().mapPartitions(run_barrier).collect()
            except Exception as e:
                # Spark refuses barrier stages over some lineages (union, coalesce, ...) before any
                # task starts; a shuffle gives the stage a clean start.
                if "Barrier execution mode does not allow" not in str(e):
                    raise
                return rdd.repartition(rdd.getNumPartitions()).barrier().mapPartitions(run_barrier).collect()

        def run(index, rows):
            from pyspark import TaskContext
            yield task.run(rows, index, TaskContext.get().attemptNumber())
        return rdd.mapPartitionsWithIndex(run).collect()

    # ------------------------------------------------------ predict, evaluate

    def predict(self, data, batch_size=None):
        """Predictions for a numpy array or an RDD of feature rows, computed on the executors."""
        from pyspark import RDD
        model = self._master_network
        batch_size = int(batch_size or self.batch_size or 32)
        if isinstance(data, RDD):
            _use_driver_python_locally(data.context)
            blocks = data.mapPartitions(_rows_to_blocks)
        else:
            x = np.asarray(data, dtype=np.float32)
            if len(x) == 0:
                return np.zeros((0,) + tuple(model.outputs[0].shape[1:]), dtype=np.float32)
            model_spec.check_sample(model, x[0], None, where="the input")
            sc = _active_context()
            blocks = sc.parallelize(np.array_split(x, min(len(x), self._parallelism(sc))), min(len(x), self._parallelism(sc)))
        weights_key, weights = uuid.uuid4().hex, model.get_weights()
        spec = (model_spec.model_json(model), model_spec.compile_json(model) if model.compiled else "")
        custom, threads = self.custom_objects, self._threads(blocks.context)
        bc = blocks.context.broadcast(weights)

        def run(chunks):
            return worker.predict_partition(chunks, weights_key, bc.value, spec[0], spec[1], custom, threads, batch_size)
        try:
            parts = blocks.mapPartitions(run).collect()
        finally:
            bc.unpersist()
        if not parts:
            return np.zeros((0,) + tuple(model.outputs[0].shape[1:]), dtype=np.float32)
        return np.concatenate(parts)

    def evaluate(self, x_test, y_test=None, batch_size=None, return_dict=False, **kwargs):
        """What `model.evaluate` returns, computed on the executors: metric states are summed
        across partitions, so the result equals Keras's on the same data."""
        from pyspark import RDD
        model = self._master_network
        model_spec.check_compiled(model)
        batch_size = int(batch_size or self.batch_size or 32)
        if isinstance(x_test, RDD):
            rdd = x_test
            _use_driver_python_locally(rdd.context)
            sample = _first_row(rdd)
        else:
            x = np.asarray(x_test, dtype=np.float32)
            y = np.asarray(y_test)
            if len(x) != len(y):
                raise ModelSpecError(f"x_test has {len(x)} rows but y_test has {len(y)}")
            sc = _active_context()
            n = min(len(x), self._parallelism(sc))
            rdd = sc.parallelize(list(zip(np.array_split(x, n), np.array_split(y, n))), n).flatMap(lambda c: zip(c[0], c[1]))
            sample = (x[0], y[0])
        model_spec.check_sample(model, sample[0], sample[1], where="the evaluation data")
        weights_key, weights = uuid.uuid4().hex, model.get_weights()
        spec = (model_spec.model_json(model), model_spec.compile_json(model))
        custom, threads = self.custom_objects, self._threads(rdd.context)
        bc = rdd.context.broadcast(weights)

        def run(rows):
            xs, ys = worker.materialize(rows)
            if xs is None:
                return
            yield worker.evaluate_partition(xs, ys, weights_key, bc.value, spec[0], spec[1], custom, threads, batch_size)
        try:
            states = rdd.mapPartitions(run).collect()
        finally:
            bc.unpersist()
        if not states:
            raise ModelSpecError("the evaluation data is empty")
        return _combine_metric_states(model, states, np.asarray(sample[0], np.float32), np.asarray(sample[1]), return_dict)

    def evaluate_frame(self, arrays, n_features, shapes, batch_size=256, return_dict=True):
        """Like `evaluate`, over a DataFrame of flat array columns f0..fk and y, read through Arrow."""
        import pickle
        from sparkeras.ml.data import arrays_from_batches
        model = self._master_network
        model_spec.check_compiled(model)
        sc = _use_driver_python_locally(arrays.sparkSession.sparkContext)
        first = arrays.limit(1).collect()
        if not first:
            raise ModelSpecError("the DataFrame is empty: there is nothing to evaluate")
        weights_key, weights = uuid.uuid4().hex, model.get_weights()
        spec = (model_spec.model_json(model), model_spec.compile_json(model))
        custom, threads = self.custom_objects, self._threads(sc)
        bc = sc.broadcast(weights)

        def run(batches):
            import pyarrow as pa
            x, y = arrays_from_batches(batches, n_features, shapes)
            if x is None:
                return
            states = worker.evaluate_partition(x, y, weights_key, bc.value, spec[0], spec[1], custom, threads,
                                               batch_size)
            yield pa.RecordBatch.from_pylist([{"states": pickle.dumps(states)}])
        try:
            states = [pickle.loads(r["states"]) for r in arrays.mapInArrow(run, "states binary").collect()]
        finally:
            bc.unpersist()
        x0 = [np.asarray(first[0][f"f{i}"], np.float32).reshape(shapes[i]) for i in range(n_features)]
        y0 = np.asarray(first[0]["y"])
        return _combine_metric_states(model, states, x0[0] if n_features == 1 else x0, y0, return_dict)

    def _parallelism(self, sc):
        return self.num_workers or sc.defaultParallelism

    # ------------------------------------------------------------ persistence

    def save(self, file_name, overwrite=True):
        """Saves the Keras model, its weights and this SparkModel's configuration in one file."""
        if os.path.exists(file_name) and not overwrite:
            raise FileExistsError(file_name)
        config = json.dumps({"sparkeras": self.get_config()})
        if file_name.endswith(".h5"):
            import h5py
            self._master_network.save(file_name)
            with h5py.File(file_name, "a") as f:
                f.attrs["distributed_config"] = config
        else:
            if not file_name.endswith(".keras"):
                raise ValueError(f"save to a '.keras' or '.h5' file; got {file_name!r}")
            self._master_network.save(file_name)
            with zipfile.ZipFile(file_name, "a") as z:
                z.writestr(_CONFIG_ENTRY, config)


class AsynchronousSparkModel(SparkModel):
    """elephas 7's name for the asynchronous and hogwild modes."""

    def __init__(self, model, mode="asynchronous", frequency="epoch", parameter_server_mode="http", *args, **kwargs):
        if mode not in ("asynchronous", "hogwild"):
            raise ModelSpecError(f"AsynchronousSparkModel runs mode 'asynchronous' or 'hogwild'; got {mode!r}")
        super().__init__(model, mode=mode, frequency=frequency, parameter_server_mode=parameter_server_mode,
                         *args, **kwargs)


class SparkMLlibModel(SparkModel):
    """elephas's model for RDDs of MLlib LabeledPoints."""

    def fit(self, labeled_points, epochs=10, batch_size=32, verbose=0, validation_split=0.1,
            categorical=False, nb_classes=None, **kwargs):
        from sparkeras.utils.rdd_utils import lp_to_simple_rdd
        rdd = lp_to_simple_rdd(labeled_points, categorical, nb_classes)
        return super().fit(rdd, epochs=epochs, batch_size=batch_size, verbose=verbose,
                           validation_split=validation_split, **kwargs)

    train = fit  # elephas's older name

    def predict(self, mllib_data, batch_size=None):
        """Predictions for an MLlib Vector, a numpy array of rows, or an RDD of rows."""
        from pyspark import RDD
        if isinstance(mllib_data, RDD):
            return super().predict(mllib_data.map(lambda v: v.toArray() if hasattr(v, "toArray") else v), batch_size)
        data = mllib_data.toArray() if hasattr(mllib_data, "toArray") else np.asarray(mllib_data)
        single = data.ndim == 1
        out = super().predict(data[None] if single else data, batch_size)
        return out[0] if single else out


def load_spark_model(file_name, custom_objects=None):
    """Loads what `SparkModel.save` wrote: the Keras model with its weights and the distributed settings."""
    import keras
    if file_name.endswith(".h5"):
        import h5py
        with h5py.File(file_name, "r") as f:
            raw = f.attrs.get("distributed_config")
    else:
        with zipfile.ZipFile(file_name) as z:
            raw = z.read(_CONFIG_ENTRY) if _CONFIG_ENTRY in z.namelist() else None
    model = keras.models.load_model(file_name, custom_objects=custom_objects)
    if raw is None:
        raise ValueError(f"{file_name} holds a Keras model but no sparkeras configuration; was it saved by SparkModel.save?")
    settings = json.loads(raw)["sparkeras"]
    settings.pop("parameter_server_mode", None)
    return SparkModel(model, custom_objects=custom_objects, **settings)


# ------------------------------------------------------------------ helpers

def _check_positive(**values):
    for name, value in values.items():
        if int(value) < 1:
            raise ModelSpecError(f"{name} must be at least 1; got {value}")


def _first_row(rdd):
    """The first row, read so that the Python worker stays reusable: `take` stops reading
    a partition early, and PySpark then discards the worker (a TensorFlow process that
    takes seconds to start again)."""
    def first_and_drain(rows):
        found, first = False, None
        for row in rows:
            if not found:
                found, first = True, row
        return [(found, first)]

    for partition in range(rdd.getNumPartitions()):
        [(found, row)] = rdd.context.runJob(rdd, first_and_drain, [partition])
        if found:
            return row
    raise ModelSpecError("the RDD is empty: there is nothing to train or evaluate on")


def _active_context():
    from pyspark import SparkContext
    sc = SparkContext._active_spark_context
    if sc is None:
        raise RuntimeError("no active SparkContext; create a SparkSession (or SparkContext) first")
    return _use_driver_python_locally(sc)


def _use_driver_python_locally(sc):
    """In local mode the executors' Python should be the driver's (a virtualenv's), not
    whatever `python3` is first on PATH, unless the user chose one with PYSPARK_PYTHON."""
    if sc.master.startswith("local") and not os.environ.get("PYSPARK_PYTHON") and sc.pythonExec == "python3":
        sc.pythonExec = sys.executable
    return sc


def _task_slots(sc):
    """Tasks the cluster can run at once (defaultParallelism counts executor cores)."""
    cpus = int(sc.getConf().get("spark.task.cpus", "1"))
    return max(1, sc.defaultParallelism // cpus)


def _rows_to_blocks(rows, block=4096):
    buf = []
    for r in rows:
        buf.append(np.asarray(r, dtype=np.float32))
        if len(buf) == block:
            yield np.stack(buf)
            buf = []
    if buf:
        yield np.stack(buf)


def _assign_trainable(model, flat):
    offset = 0
    for v in model.trainable_weights:
        n = int(np.prod(v.shape))
        v.assign(flat[offset:offset + n].reshape(v.shape))
        offset += n


def _pull():
    env = wire.Envelope()
    env.pull.SetInParent()
    return env


def _history_request():
    env = wire.Envelope()
    env.history_request.SetInParent()
    return env


def _combine_metric_states(model, states, x0, y0, return_dict):
    """Sums every partition's metric variables into the driver model's metrics and reads them."""
    one = [a[None] for a in x0] if isinstance(x0, list) else x0[None]
    model.test_step((one, y0[None]))  # builds the compiled metrics if evaluate never ran here
    metrics = model.metrics
    for m in metrics:
        m.reset_state()
    for i, m in enumerate(metrics):
        for j, v in enumerate(m.variables):
            v.assign(np.sum([s[i][j] for s in states], axis=0).astype(v.dtype))
    results = {k: float(np.asarray(v)) for k, v in model.get_metrics_result().items()}
    for m in metrics:
        m.reset_state()
    if return_dict:
        return results
    values = list(results.values())
    return values[0] if len(values) == 1 else values


class _Progress:
    """Prints samples seen, epoch and loss from the coordinator while the stage runs."""

    def __init__(self, coordinator, epochs, workers, verbose, interval=5.0):
        self.coordinator, self.epochs, self.workers = coordinator, epochs, workers
        self.verbose, self.interval = verbose, interval
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.verbose:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def _loop(self):
        started = time.time()
        while not self._stop.wait(self.interval):
            try:
                samples, epochs_done, pushes, loss = self.coordinator.progress().split(" ")[:4]
            except Exception:  # the JVM side may be shutting down
                return
            elapsed = time.time() - started
            print(f"sparkeras: {elapsed:6.1f}s  epoch {int(epochs_done)}/{self.epochs}  pushes {pushes}  "
                  f"samples {samples}  loss {loss}", file=sys.stderr)

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
