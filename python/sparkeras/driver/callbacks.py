"""Keras callbacks on the driver, at the parameter server's pace.

A thread polls the coordinator for epochs that every partition has reported; for each, in
order, it pulls the master weights into the Keras model and calls `on_epoch_end` with the
epoch's row-weighted logs (`val_*` included), then `on_epoch_begin` of the next. With
callbacks of the caller's, workers run at most one epoch ahead of them (a worker that
finished epoch e waits until `on_epoch_end` of epoch e - 1 has returned), so
`model.stop_training = True` stops every worker within two epochs of the one that set it
(callbacks see no epoch after it; the History holds every epoch the workers finished); a changed `model.optimizer.learning_rate` (ReduceLROnPlateau,
LearningRateScheduler) is sent to the server's optimizer.

With `verbose`, Keras's own ProgbarLogger is one of the callbacks: between epochs the thread
feeds it (and every callback's `on_train_batch_end`) the step the workers have reached in
the current epoch and their running metrics, from the server's live counters.
"""
import json
import threading
import time
import warnings

from sparkeras.driver import job_config
from sparkeras.wire import sparkeras_pb2 as wire
from sparkeras.wire.codec import from_tensor
from sparkeras.wire.connection import Connection


class CallbackRunner:
    def __init__(self, callbacks, model, coordinator, token, params, initial_epoch=0, interval=0.2, fit_args=None):
        import keras
        self.model, self.coordinator, self.token = model, coordinator, token
        self.gate = bool(callbacks)  # the caller's callbacks may stop training; a progress bar alone does not
        self.fit_args = fit_args
        self.validation = {}  # epoch -> val_* logs computed here from validation_data
        self.epochs, self.interval = params["epochs"], interval
        # waiting workers: look for finished epochs often; batch-level hooks stay at `interval`
        self.poll = min(interval, 0.05) if self.gate else interval
        self.verbose = params.get("verbose") or 0
        self.list = keras.callbacks.CallbackList(list(callbacks), add_history=False, add_progbar=bool(self.verbose),
                                                 model=model, **params)
        self._progbar = next((c for c in self.list.callbacks if isinstance(c, keras.callbacks.ProgbarLogger)), None)
        self._shown_step = 0
        self.next_epoch = initial_epoch
        self.logs = {}
        self.error = None
        self._stop = threading.Event()
        self._conn = None
        self._thread = None
        self._warned = False
        self._sent_lr = None
        optimizer = getattr(model, "optimizer", None)
        self._initial_lr = float(optimizer.learning_rate) if optimizer is not None else 0.0

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._conn is not None:
            self._conn.close()

    def __enter__(self):
        self.model.stop_training = False
        self._sent_lr = self._server_learning_rate()
        self.list.on_train_begin()
        self.list.on_epoch_begin(self.next_epoch)
        self._send_learning_rate()  # LearningRateScheduler sets the first epoch's rate here
        self._conn = Connection.open(self.coordinator.getHost(), self.coordinator.getPort(), self.token, wire.DRIVER,
                                     tls=self.coordinator.getTlsTrust())
        if self.gate:  # a callback may stop training: workers stay at most an epoch ahead of the callbacks
            self.coordinator.gateOnCallbacks(self.next_epoch)
        self._thread = threading.Thread(target=self._loop, daemon=True, name="sparkeras-callbacks")
        self._thread.start()
        return self

    def _loop(self):
        shown = 0.0
        while not self._stop.wait(self.poll):
            try:
                self._catch_up()
                if time.monotonic() - shown >= self.interval:
                    shown = time.monotonic()
                    self._show_progress()
            except Exception as e:  # reported on the driver's thread when training ends
                self.error = e
                self.coordinator.requestStop()
                return

    def _catch_up(self):
        done = self.coordinator.epochsCompleted()
        # After a callback stopped training, epochs the workers were already in still finish,
        # but callbacks see no more of them, as under model.fit.
        if self.next_epoch >= done or getattr(self.model, "stop_training", False):
            return
        history = self._conn.history()
        while self.next_epoch < done and not getattr(self.model, "stop_training", False):
            epoch = self.next_epoch
            job_config.assign_trainable(self.model, from_tensor(self._conn.pull().values))
            # BatchNormalization's statistics too, or EarlyStopping and ModelCheckpoint would keep initial ones.
            job_config.assign_state(self.model, self._conn.worker_state())
            row = next((r.values for r in history.epochs if r.epoch == epoch), {})
            self.logs = {name: row[name] for name in history.names if name in row}
            if self.fit_args is not None and self.fit_args.validates(epoch):
                self.validation[epoch] = self._validate()
                self.logs.update(self.validation[epoch])
            self._sync_learning_rate_to_model()
            self.list.on_epoch_end(epoch, dict(self.logs))
            self._send_learning_rate()
            if getattr(self.model, "stop_training", False):
                self.coordinator.requestStop()
                return
            self.coordinator.callbacksFinished(epoch + 1)
            self.next_epoch += 1
            self._shown_step = 0
            if self.next_epoch < self.epochs:
                self.list.on_epoch_begin(self.next_epoch)
                self._send_learning_rate()

    def _validate(self):
        """validation_data evaluated with this epoch's weights, as model.fit does before on_epoch_end."""
        x, y, *weights = self.fit_args.validation_data
        results = self.model.evaluate(x, y, sample_weight=weights[0] if weights else None,
                                      batch_size=self.fit_args.batch_size, verbose=0, return_dict=True)
        return {f"val_{k}": float(v) for k, v in results.items()}

    def _show_progress(self):
        """Batch-level hooks at the server's pace: the step the workers reached in the current epoch."""
        if self.next_epoch >= self.epochs or getattr(self.model, "stop_training", False):
            return
        live = json.loads(self.coordinator.liveProgress(self.next_epoch))
        steps, rows = live["steps"], live["rows"]
        if not steps or not rows:
            return  # the workers have not joined yet
        if self._progbar is not None and self._progbar.target != steps:
            self._progbar.target = steps
            if self._progbar.progbar is not None:
                self._progbar.progbar.target = steps
        step = min(steps, int(steps * live["samples"] / rows))
        if step > self._shown_step:
            self._shown_step = step
            self.list.on_train_batch_end(step - 1, live["metrics"])

    def _server_learning_rate(self):
        lr = self.coordinator.learningRate()
        return None if lr != lr else float(lr)  # NaN: the server merges deltas

    def _sync_learning_rate_to_model(self):
        lr = self._server_learning_rate()
        optimizer = getattr(self.model, "optimizer", None)
        if _has_schedule(optimizer):
            # The schedule is evaluated at the step count, as Keras does; the rate itself is not settable.
            job_config.assign_iterations(self.model, self.coordinator.iterations())
        elif optimizer is not None and lr is not None:
            optimizer.learning_rate = lr
        self._sent_lr = lr

    def _send_learning_rate(self):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or _has_schedule(optimizer):
            return
        lr = float(optimizer.learning_rate)
        if self._sent_lr is None or lr == self._sent_lr:
            if self._sent_lr is None and lr != float(self._initial_lr):
                self._warn_epoch_frequency()
            return
        self.coordinator.setLearningRate(lr)
        self._sent_lr = lr

    def _warn_epoch_frequency(self):
        if not self._warned:
            self._warned = True
            warnings.warn("a callback changed the learning rate, but with frequency='epoch' (or a communication "
                          "window) the workers' own optimizers do not see it in this fit", RuntimeWarning)

    def drain(self):
        """After the training stage: runs the epochs not yet seen."""
        self._stop.set()
        self._thread.join()
        if self.error is None:
            self._catch_up()
        if self.error is not None:
            raise self.error

    def train_end(self):
        """After the final weights are in the model (EarlyStopping may restore its best ones)."""
        self.list.on_train_end(dict(self.logs))


def _has_schedule(optimizer):
    import keras
    return isinstance(getattr(optimizer, "_learning_rate", None), keras.optimizers.schedules.LearningRateSchedule)
