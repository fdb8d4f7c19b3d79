"""Distributed hyper-parameter search and ensembles, the successor of elephas 2's
`HyperParamModel(sc).minimize(...)` and `best_ensemble(...)` (built on hyperas and hyperopt,
which are no longer maintained), on Optuna.

Every trial is a distributed fit: the model the trial's function builds is trained through
sparkeras's parameter server on the training data, `parallelism` trials at a time (each
with its own workers), and scored on the validation data on the driver after each epoch,
so that Optuna's pruner stops a bad trial early. A failed trial is recorded in the table
and the search goes on.

    def build(trial):
        model = keras.Sequential([keras.Input((64,)),
                                  keras.layers.Dense(trial.suggest_int("units", 16, 128), activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.Adam(trial.suggest_float("lr", 1e-4, 1e-1, log=True)),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    search = HyperParamModel(sc, parallelism=2)
    best = search.minimize(build, (x_train, y_train, x_val, y_val), max_evals=8, metric="val_accuracy")
    ensemble = search.best_ensemble(3, build, (x_train, y_train, x_val, y_val), max_evals=8)
"""
import math
import threading
import time

import numpy as np

from sparkeras import logs
from sparkeras.driver import bridge
from sparkeras.driver.ensemble import average_ensemble
from sparkeras.driver.session import active_context
from sparkeras.errors import ModelSpecError
from sparkeras.ml.adapter import df_to_simple_rdd
from sparkeras.model import SparkModel
from sparkeras.utils.rdd_utils import to_simple_rdd

__all__ = ["HyperParamModel", "average_ensemble", "selection_weights"]

# Metric names for which larger is better; every other metric is minimized.
_MAXIMIZED = ("acc", "accuracy", "auc", "precision", "recall", "f1")


def _direction(metric):
    name = metric[len("val_"):] if metric.startswith("val_") else metric
    return "maximize" if any(name == m or name.endswith("_" + m) or name.startswith(m) for m in _MAXIMIZED) \
        else "minimize"


class HyperParamModel:
    """Searches hyper-parameters with Optuna, each trial a distributed fit on Spark.

    sc: the SparkContext (default: the active one).
    parallelism: trials trained at the same time (elephas's `num_workers`).
    workers_per_trial: training workers of each trial's fit.
    sampler, pruner: Optuna's (default: TPE seeded with `seed`, and a median pruner that
    judges a trial after its first epoch once two trials have finished).
    verbose: 1 logs a line per finished trial on the driver (the `sparkeras` logger), 0 nothing.
    """

    def __init__(self, sc=None, parallelism=2, workers_per_trial=1, sampler=None, pruner=None, seed=None,
                 verbose=1, num_workers=None):
        import optuna
        self.sc = sc or active_context(type(self).__name__)
        self.parallelism = int(num_workers or parallelism)  # num_workers: elephas 2's name for it
        self.workers_per_trial = int(workers_per_trial)
        if self.parallelism < 1 or self.workers_per_trial < 1:
            raise ModelSpecError("parallelism and workers_per_trial must be at least 1")
        self.sampler = sampler or optuna.samplers.TPESampler(seed=seed)
        self.pruner = pruner or optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
        self.verbose = verbose
        self.study = None
        self.best_model = None
        self.best_models = []
        self.ensemble_weights = []

    def minimize(self, model, data, max_evals, epochs=10, batch_size=32, metric="val_loss", direction=None,
                 mode="asynchronous", frequency="epoch", timeout=None):
        """Runs `max_evals` trials and returns the best trained Keras model.

        model: a function of an Optuna trial (trial.suggest_int(...), ...) returning a
        compiled Keras model. data: (x_train, y_train, x_val, y_val), or a function
        returning it (elephas's `data()`); the training part may be arrays, an RDD of
        (features, label) rows or a DataFrame with `features` and `label` columns; the
        validation part is arrays, evaluated on the driver. metric: a validation metric
        from the model's compiled metrics (`val_loss`, `val_accuracy`, ...); `direction`
        is inferred from its name unless given.
        """
        self._search(model, data, max_evals, 1, epochs, batch_size, metric, direction, mode, frequency, timeout)
        return self.best_model

    def best_models_of(self, nb_models, model, data, max_evals, **kwargs):
        """The `nb_models` best trained models of a search (best first). The pruner spares a
        trial while it is among the `nb_models` best at its epoch; pruned trials do not count:
        when fewer than `nb_models` trials finish, up to `max_evals` more are run."""
        self._search(model, data, max_evals, nb_models, **_search_defaults(kwargs))
        return list(self.best_models)

    def best_ensemble(self, nb_ensemble_models, model, data, max_evals, **kwargs):
        """A Keras model that averages the outputs of the `nb_ensemble_models` best models of a
        search (soft voting). The average is weighted by greedy ensemble selection on the
        validation data (Caruana et al., 2004): starting from the best model, the member that
        most lowers the validation loss of the average is added, with repetition, for 20
        rounds, so that a weaker member weighs less; the weights are in `ensemble_weights`.
        The result predicts, evaluates and saves like any Keras model, so it works with
        SparkModel.predict, KerasModel.transform and Keras's save and load."""
        members = self.best_models_of(nb_ensemble_models, model, data, max_evals, **kwargs)
        _, _, x_val, y_val = data() if callable(data) else data
        self.ensemble_weights = selection_weights(members, np.asarray(x_val), np.asarray(y_val))
        return average_ensemble(members, self.ensemble_weights)

    def trials(self):
        """The trial table: one dict per trial (number, state, value, params, epochs, seconds, error)."""
        if self.study is None:
            return []
        rows = []
        for t in self.study.trials:
            rows.append({"number": t.number, "state": t.state.name, "value": t.value, "params": dict(t.params),
                         "epochs": len(t.intermediate_values),
                         "seconds": (t.datetime_complete - t.datetime_start).total_seconds()
                         if t.datetime_complete and t.datetime_start else None,
                         "error": t.user_attrs.get("error")})
        return rows

    def _search(self, model, data, max_evals, keep, epochs=10, batch_size=32, metric="val_loss", direction=None,
                mode="asynchronous", frequency="epoch", timeout=None):
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        x_train, y_train, x_val, y_val = data() if callable(data) else data
        x_val, y_val = np.asarray(x_val), np.asarray(y_val)
        direction = direction or _direction(metric)
        train = self._training_data(x_train, y_train)
        self.study = optuna.create_study(direction=direction, sampler=self.sampler, pruner=self.pruner)
        kept = _KeptModels(keep, direction)
        started = time.time()

        def objective(trial):
            begun = time.time()
            try:
                keras_model = model(trial)
                callback = _trial_callback(trial, metric, keep, direction)
                _fit(keras_model, train, epochs, batch_size, (x_val, y_val), callback, self.workers_per_trial, mode,
                     frequency)
            except optuna.TrialPruned:
                raise
            except Exception as e:  # recorded in the table; the search goes on
                trial.set_user_attr("error", f"{type(e).__name__}: {e}")
                self._report(trial, None, "failed", started, max_evals, f"{type(e).__name__}: {e}")
                raise
            if callback.pruned:
                self._report(trial, callback.last, "pruned", started, max_evals, f"at epoch {callback.pruned}")
                raise optuna.TrialPruned()
            if callback.last is None or not math.isfinite(callback.last):
                raise ModelSpecError(f"{metric} was not reported: is it a compiled metric of the model "
                                     f"(val_ + a name in {sorted(callback.seen)})?")
            kept.offer(callback.last, trial.number, keras_model)
            self._report(trial, callback.last, "done", started, max_evals, f"{time.time() - begun:.0f}s")
            return callback.last

        # trials train in parallel: Spark's console bars would interleave with the trial lines
        paused = bridge.pause_console_progress(self.sc) if self.verbose else None
        try:
            self.study.optimize(objective, n_trials=int(max_evals), n_jobs=self.parallelism, timeout=timeout,
                                catch=(Exception,))
            # an ensemble of `keep` needs `keep` finished trials: when pruning left fewer, run
            # more (at most max_evals more), each judged by the same pruner
            extra = 0
            while len(kept.models()) < keep and extra < int(max_evals):
                if self.verbose:
                    logs.logger().info(f"hyperparam: {len(kept.models())} of {keep} trials finished unpruned; "
                                       "running one more")
                self.study.optimize(objective, n_trials=1, catch=(Exception,))
                extra += 1
        finally:
            if paused is not None:
                paused.close()
        self.best_models = kept.models()
        if not self.best_models:
            raise ModelSpecError(f"no trial of {max_evals} finished; their errors: "
                                 f"{[t['error'] for t in self.trials() if t['error']]}")
        self.best_model = self.best_models[0]

    def _training_data(self, x_train, y_train):
        from pyspark import RDD
        from pyspark.sql import DataFrame
        if isinstance(x_train, RDD):
            return x_train
        if isinstance(x_train, DataFrame):
            return df_to_simple_rdd(x_train)
        return to_simple_rdd(self.sc, np.asarray(x_train), np.asarray(y_train), num_partitions=self.workers_per_trial)

    def _report(self, trial, value, outcome, started, max_evals, detail):
        if not self.verbose:
            return
        shown = "-" if value is None else f"{value:.4f}"
        logs.logger().info(f"hyperparam trial {trial.number + 1}/{max_evals} {outcome}: {shown} ({detail}) "
                           f"{trial.params} [{time.time() - started:.0f}s]")


def _search_defaults(kwargs):
    allowed = ("epochs", "batch_size", "metric", "direction", "mode", "frequency", "timeout")
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise TypeError(f"unexpected arguments {unknown}; the search takes {list(allowed)}")
    return kwargs


def _fit(keras_model, train, epochs, batch_size, validation_data, callback, workers, mode, frequency):
    SparkModel(keras_model, mode=mode, frequency=frequency, num_workers=workers).fit(
        train, epochs=epochs, batch_size=batch_size, validation_data=validation_data, callbacks=[callback])


def _trial_callback(trial, metric, keep=1, direction="minimize"):
    """A Keras callback run on the driver after each epoch: reports `metric` to Optuna and
    stops the fit when the pruner says so, unless the trial is among the best `keep` at that
    epoch (an ensemble of `keep` needs `keep` finished trials; a median pruner alone prunes
    the second and third best of a search as readily as the worst). Its `last`, `pruned`
    (the epoch, or 0) and `seen` (the metric names it was given) tell the objective what
    happened."""
    import keras

    class TrialCallback(keras.callbacks.Callback):
        last, pruned = None, 0

        def __init__(self):
            super().__init__()
            self.seen = set()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.seen.update(logs)
            if metric not in logs:
                return
            self.last = float(logs[metric])
            trial.report(self.last, epoch)
            if trial.should_prune() and not _among_best(trial, epoch, self.last, keep, direction):
                self.pruned = epoch + 1
                self.model.stop_training = True

    return TrialCallback()


def _among_best(trial, epoch, value, keep, direction):
    """Whether `value` is among the best `keep` values reported at `epoch` by the other
    trials of the study (finished, pruned or running), counting ties in its favour."""
    if keep <= 1:
        return False
    others = [t.intermediate_values[epoch] for t in trial.study.get_trials(deepcopy=False)
              if t.number != trial.number and epoch in t.intermediate_values]
    better = sum(1 for v in others if (v > value if direction == "maximize" else v < value))
    return better < keep


class _KeptModels:
    """The best `keep` models seen so far (thread-safe: trials finish in parallel)."""

    def __init__(self, keep, direction):
        self.keep, self.sign, self.lock, self.entries = int(keep), (-1 if direction == "maximize" else 1), \
            threading.Lock(), []

    def offer(self, value, number, model):
        with self.lock:
            self.entries.append((self.sign * value, number, model))
            self.entries.sort(key=lambda e: (e[0], e[1]))
            del self.entries[self.keep:]

    def models(self):
        return [m for _, _, m in self.entries]


def selection_weights(models, x_val, y_val, rounds=20):
    """Weights of greedy ensemble selection with repetition: each round adds the model whose
    addition gives the lowest validation loss (the first model's compiled loss) of the
    running average; a model's weight is the share of rounds it was added in."""
    import keras
    loss_fn = models[0].loss
    loss_fn = keras.losses.get(loss_fn) if isinstance(loss_fn, str) else loss_fn
    predictions = [np.asarray(m.predict(x_val, verbose=0), dtype=np.float64) for m in models]
    counts = np.zeros(len(models))
    counts[0] = 1  # the best model of the search starts the ensemble
    total = predictions[0].copy()
    for _ in range(rounds - 1):
        scores = [float(np.mean(keras.ops.convert_to_numpy(loss_fn(y_val, (total + p) / (counts.sum() + 1)))))
                  for p in predictions]
        chosen = int(np.argmin(scores))
        counts[chosen] += 1
        total += predictions[chosen]
    return (counts / counts.sum()).tolist()
