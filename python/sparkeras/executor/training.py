"""One worker's share of a training job: streams its partition to a local spill, joins
the job on the parameter server, and trains every epoch through compiled TensorFlow
steps, exchanging gradients or weight deltas as raw bytes. A failure is reported to
the server, with the exception's type and message, before the task dies."""
import builtins
import contextlib
import resource
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sparkeras.errors import ServerError
from sparkeras.executor.arrays import constant, model_input, rows_of
from sparkeras.executor.feed import Spill
from sparkeras.executor.keras_model import get_model
from sparkeras.executor.process import prepare_process
from sparkeras.wire import sparkeras_pb2 as wire
from sparkeras.wire.codec import encode_push, from_tensor, to_tensor
from sparkeras.wire.connection import Connection

# What the server answers a push holding NaN or infinity (TrainingJob.push).
NON_FINITE_REFUSED = "non-finite values are refused"
RUNNING_METRICS_EVERY = 1.0  # seconds between the running metrics a worker sends with its pushes


def describe_exception(error):
    """The name a user knows an exception by: `ValueError`, `tensorflow...InvalidArgumentError`."""
    cls = type(error)
    if getattr(builtins, cls.__name__, None) is cls:
        return cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


class TrainingTask:
    """What every worker of one job needs: where the server is, and how to build the model."""

    def __init__(self, host, port, token, job_id, threads, validation_split=0.0, custom_objects=None, tls=None):
        self.host, self.port, self.token, self.job_id, self.tls = host, port, token, job_id, tls
        self.threads, self.validation_split, self.custom_objects = threads, validation_split, custom_objects

    def run(self, blocks, partition=0, attempt=0):
        """Trains on an iterator of blocks (see sparkeras.executor.feed); returns what it did."""
        started = time.perf_counter()
        prepare_process(self.threads)
        with Connection.open(self.host, self.port, self.token, wire.WORKER, partition, attempt, tls=self.tls) as conn:
            try:
                return self._train(conn, blocks, partition, started)
            except Exception as e:
                _report(conn, e, partition, attempt)
                raise

    def _train(self, conn, blocks, partition, started):
        with Spill(blocks) as spill:
            loaded = time.perf_counter()
            # The validation rows are the last ones, as with Keras's validation_split.
            n_val = int(spill.rows * self.validation_split)
            n_train = spill.rows - n_val
            welcome = conn.join(n_train)
            if n_train == 0:
                conn.done()
                return {"partition": partition, "samples": 0}
            cfg = welcome.config
            wm = get_model(cfg.model_json, cfg.compile_json, self.custom_objects)
            xs, y = spill.first
            wm.build(model_input(xs), y)
            # the server sends the trainable initial weights once, in the Welcome, not in the configuration
            wm.start_job(self.job_id, [from_tensor(t) if t.data else None for t in cfg.initial_weights])
            base = np.array(from_tensor(welcome.weights), dtype=np.float32)
            wm.assign_flat(base)
            if welcome.HasField("resumed_state") and welcome.resumed_state.samples:  # resumed from a checkpoint
                wm.assign_state(from_tensor(welcome.resumed_state.non_trainable))
            loop = _TrainingLoop(conn, wm, cfg, welcome, base)
            ready, ready_cpu = time.perf_counter(), time.process_time()
            loop.run(spill, n_train, seed=(cfg.seed + 7919 * partition) % 2 ** 63)
            if cfg.algorithm == "ensemble":
                loop.send_member(n_train)
            conn.done()
        return {"partition": partition, "samples": loop.samples, "steps": loop.steps,
                "resumed_after_pushes": welcome.resume_pushes,
                "seconds": {"load": loaded - started, "setup": ready - loaded, "train": time.perf_counter() - ready},
                # CPU the process spent training, all its threads (TensorFlow's and the push helper)
                "train_cpu_seconds": time.process_time() - ready_cpu,
                # this process's peak resident memory so far (Linux reports kB)
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _report(conn, error, partition, attempt):
    """Best effort: the connection itself may be what failed."""
    failure = wire.WorkerFailure(exception_type=describe_exception(error), message=str(error)[:20000],
                                 traceback=traceback.format_exc()[-20000:], partition=partition, attempt=attempt)
    try:
        conn.report_failure(failure)
    except Exception:
        pass


def class_weights(weights):
    """Per-row weights from Keras's class_weight {class: weight}, read from each row's label
    as model.fit reads it: the class index, the argmax of a one-hot row, or a rounded
    single probability. Classes missing from the map weigh 1."""
    top = max(weights) + 1
    table = np.ones(top, dtype=np.float32)
    for k, v in weights.items():
        table[k] = v

    def of(y):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            classes = np.argmax(y, axis=1)
        else:
            classes = np.round(y.reshape(len(y))).astype(np.int64)
        known = (classes >= 0) & (classes < top)
        return np.where(known, table[np.clip(classes, 0, top - 1)], np.float32(1)).astype(np.float32)
    return of


# dist-keras's algorithms (driver/algorithms.py), by what the worker does at the end of a window.
NORMALISED = ("agn", "adag")  # the change is divided by the batches it accumulates
ELASTIC = ("aeasgd", "eamsgd")  # worker and centre pull towards each other; the worker keeps its own weights
LOCAL_ONLY = ("ensemble",)  # never exchanges weights


class _TrainingLoop:
    def __init__(self, conn, wm, cfg, welcome, base):
        self.conn, self.wm, self.cfg = conn, wm, cfg
        self.version = welcome.version
        self.base = base
        self.steps_per_epoch = welcome.steps_per_epoch
        self.window = max(1, cfg.communication_window)
        self.algorithm = cfg.algorithm
        self.per_batch_gradients = cfg.frequency == "batch" and self.window == 1 and not self.algorithm
        # averaging pushes every `window` epochs; everything else counts windows of batches
        self.epochs_per_push = self.window if cfg.frequency == "epoch" else 1
        params = dict(cfg.algorithm_params)
        self.alpha = params.get("rho", 0.0) * params.get("learning_rate", 0.0)
        self.resume_pushes = welcome.resume_pushes
        self.steps = self.samples = 0
        self.position = (0, 0)  # (epoch, step) being trained, for error messages
        self.epoch = 0  # sent with pushes, for the server's staleness per epoch
        self._next_running_report = 0.0  # the first push carries them, so the bar shows a loss early
        # Per-batch gradients: one push at a time is in flight on the connection, sent by a helper
        # thread while this one prepares the next batch; each step then waits for the weights its
        # push brings back, unless the job asks for overlap (asynchronous and hogwild): then the
        # next step computes meanwhile, on the weights it has, one own step behind.
        self.one_step_stale = self.per_batch_gradients and cfg.mode != "synchronous" and cfg.overlap
        self._sender = ThreadPoolExecutor(1, thread_name_prefix="sparkeras-push") if self.per_batch_gradients else None
        self._in_flight = None  # (future reply, position of the step it carries)

    def resume_point(self, steps_per_epoch):
        """(epoch, batch) to start from: an earlier attempt of this task had `resume_pushes`
        of its pushes applied by the server, which covered everything before that point."""
        if self.algorithm in LOCAL_ONLY:
            return self.cfg.initial_epoch, 0  # nothing reaches the server before the end
        if self.cfg.frequency == "epoch":  # every `epochs_per_push` epochs (and the last), from the first epoch
            first = self.cfg.initial_epoch + self.resume_pushes * self.epochs_per_push
            return min(first, self.cfg.epochs), 0
        # every window of batches, and the rest of the epoch
        batches_per_push = 1 if self.per_batch_gradients else self.window
        pushes_per_epoch = -(-steps_per_epoch // batches_per_push)
        epoch, pushed = divmod(self.resume_pushes, pushes_per_epoch)
        return self.cfg.initial_epoch + epoch, pushed * batches_per_push

    def run(self, spill, n_train, seed):
        try:
            self._run(spill, n_train, seed)
        finally:
            self._abandon()

    def _run(self, spill, n_train, seed):
        import tensorflow as tf
        cfg, wm = self.cfg, self.wm
        bs = max(1, cfg.batch_size)
        first_epoch, skip = self.resume_point(self.steps_per_epoch or -(-n_train // bs))
        weights_of = class_weights(dict(cfg.class_weight)) if cfg.class_weight else None
        prefix = "weighted_" if weights_of or spill.weights is not None else ""
        gradient_step = wm.step(prefix + "assign_and_gradient") if self.per_batch_gradients else None
        train_step = None if self.per_batch_gradients else wm.step(prefix + "train_step")
        unpushed_epochs = 0  # frequency 'epoch': epochs trained since the last push
        for epoch in range(first_epoch, cfg.epochs):
            # One generator per epoch, so that a retried attempt shuffles each epoch as the first did.
            rng = np.random.default_rng([seed, epoch]) if cfg.shuffle else None
            wm.reset_metrics()
            since_push = since_batches = 0
            self.epoch = epoch
            # Synchronous workers all run the same number of steps; smaller partitions wrap around.
            batches = spill.batches(0, n_train, bs, rng, steps=self.steps_per_epoch or None)
            for s, (xs, yb, *wb) in enumerate(batches):
                self.position = (epoch, s)
                if epoch == first_epoch and s < skip:
                    continue  # the server already holds this step's update
                xb = model_input(xs)
                rows = rows_of(yb)
                # Per-row weights: the rows' own sample weights, or their classes' weights.
                extra = (tf.constant(wb[0]),) if wb else (tf.constant(weights_of(yb)),) if weights_of else ()
                if self.per_batch_gradients:
                    x_t, y_t = constant(xb), constant(yb)
                    if not self.one_step_stale:
                        self._settle()  # the last push's weights, received while this batch was prepared
                    version = self.version
                    # The pulled weights are assigned inside the gradient step.
                    grads = gradient_step(tf.constant(self.base), x_t, y_t, *extra)
                    self._settle()  # the previous push's weights, received while this step computed
                    self._send_gradient(grads.numpy(), rows, version)
                else:
                    train_step(constant(xb), constant(yb), *extra)
                    since_push += rows
                    since_batches += 1
                    if cfg.frequency == "batch" and (s + 1) % self.window == 0:
                        self._end_window(since_push, since_batches)
                        since_push = since_batches = 0
                self.steps += 1
                self.samples += rows
            if cfg.frequency == "batch" and since_push:
                self._end_window(since_push, since_batches)
            pushes_epochs = cfg.frequency == "epoch" and self.algorithm not in LOCAL_ONLY
            unpushed_epochs += 1
            if pushes_epochs and (epoch == cfg.epochs - 1 or (epoch + 1 - cfg.initial_epoch) % self.epochs_per_push == 0):
                self._push_delta(n_train * unpushed_epochs)
                unpushed_epochs = 0
            if self.per_batch_gradients:
                self._settle()
                wm.assign_flat(self.base)
            if self._report(epoch, n_train, spill):
                if pushes_epochs and unpushed_epochs:
                    self._push_delta(n_train * unpushed_epochs)  # stopped by a callback: what was trained counts
                break  # a driver callback set model.stop_training

    def _end_window(self, samples, batches):
        """The exchange at the end of a window of local batches, as the algorithm does it."""
        if self.algorithm in ELASTIC:
            self._elastic_exchange(samples)
        elif self.algorithm not in LOCAL_ONLY:
            self._push_delta(samples, divide_by=batches if self.algorithm in NORMALISED else 1)

    def _push_delta(self, samples, divide_by=1):
        current = self.wm.read_flat().numpy()
        delta = current - self.base
        if divide_by != 1:
            delta /= np.float32(divide_by)
        self._exchange(wire.DELTA, delta, samples)

    def _elastic_exchange(self, samples):
        """AEASGD/EAMSGD: pull the centre c, E = alpha (w - c); the worker moves to w - E and the
        server adds E, so both move towards each other; the worker keeps training from w - E."""
        centre = self.conn.pull()
        self.version = centre.version
        current = self.wm.read_flat().numpy()
        elastic = np.float32(self.alpha) * (current - from_tensor(centre.values))
        self.wm.assign_flat(current - elastic)
        self._exchange(wire.DELTA, elastic, samples, want_weights=False)

    def send_member(self, n_train):
        """The ensemble algorithm: this worker's trained model, kept by the server for the driver."""
        update = wire.Envelope()
        update.worker_state.samples = n_train
        to_tensor(self.wm.read_flat().numpy(), out=update.worker_state.trainable)
        state = self.wm.read_state()
        if state is not None:
            to_tensor(state, out=update.worker_state.non_trainable)
        self.conn.call(update)

    def _push_parts(self, kind, values, samples, version, want_weights=True):
        # The epoch's running metrics ride along about once a second, for the driver's progress bar.
        now = time.monotonic()
        running = None
        if now >= self._next_running_report:
            running = self.wm.metrics()
            self._next_running_report = now + RUNNING_METRICS_EVERY
        return encode_push(kind, version, samples, values, want_weights=want_weights, running_metrics=running,
                           epoch=self.epoch)

    def _exchange(self, kind, values, samples, want_weights=True):
        """Pushes a change in the weights and, when asked, takes the reply's weights as the new base."""
        with self._refusal_explained(kind, self.position):
            reply = self.conn.call_parts(self._push_parts(kind, values, samples, self.version, want_weights))
        if want_weights:
            self._accept(reply.weights)
            self.wm.assign_flat(self.base)

    def _send_gradient(self, values, samples, version):
        """Starts pushing one step's gradient (computed on weights of `version`) in the helper thread."""
        parts = self._push_parts(wire.GRADIENT, values, samples, version)
        self._in_flight = (self._sender.submit(self.conn.call_parts, parts), self.position)

    def _settle(self):
        """Waits for the push in flight, if any, and takes its reply's weights as the new base."""
        if self._in_flight is None:
            return
        future, position = self._in_flight
        self._in_flight = None
        with self._refusal_explained(wire.GRADIENT, position):
            reply = future.result()
        self._accept(reply.weights)

    def _abandon(self):
        """On the way out, also after a failure: lets a push in flight finish, so that nothing
        else is written on the connection (the failure report) before its reply is read."""
        if self._in_flight is not None:
            future, _ = self._in_flight
            self._in_flight = None
            try:
                future.result()
            except Exception:
                pass  # the failure being raised, if any, says more
        if self._sender is not None:
            self._sender.shutdown(wait=True)

    def _accept(self, weights):
        self.version = weights.version
        self.base = from_tensor(weights.values)

    @contextlib.contextmanager
    def _refusal_explained(self, kind, position):
        """The server's refusal of a non-finite push, as the error a Keras user understands."""
        try:
            yield
        except ServerError as e:
            if NON_FINITE_REFUSED not in str(e):
                raise
            epoch, step = position
            what = "gradient" if kind == wire.GRADIENT else "change in the weights"
            raise FloatingPointError(
                f"the {what} of epoch {epoch + 1}, step {step + 1} holds NaN or infinity: the loss diverged. The "
                "parameter server refused it and keeps the weights from before. Lower the learning rate, clip "
                "gradients (clipnorm), or pass keras.callbacks.TerminateOnNaN() to end training there "
                "without an error") from e

    def _report(self, epoch, n_train, spill):
        """Sends the epoch's non-trainable state (BatchNormalization's statistics), then its
        metrics, which complete the epoch for the driver; returns whether to stop."""
        state = self.wm.read_state()
        if state is not None:
            update = wire.Envelope()
            update.worker_state.samples = n_train
            to_tensor(state, out=update.worker_state.non_trainable)
            self.conn.call(update)
        env = wire.Envelope()
        m = env.epoch_metrics
        m.epoch = epoch
        m.samples = n_train
        for k, v in self.wm.metrics().items():
            m.values[k] = v
        n_val = spill.rows - n_train
        if n_val:
            self.wm.reset_metrics()
            bs = max(1, self.cfg.batch_size)
            for xs, y, *w in spill.blocks(n_train, spill.rows, block_rows=bs):
                self.wm.test_step(model_input(xs), y, *w)
            m.val_samples = n_val
            for k, v in self.wm.metrics().items():
                m.val_values[k] = v
        return self.conn.call(env).ack.stop

