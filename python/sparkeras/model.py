"""sparkeras's own `SparkModel` (`from sparkeras import SparkModel`): train a compiled Keras
model on an RDD through the parameter server in the driver JVM, then predict and evaluate on
the executors. `predict` returns a numpy array, as Keras's does. elephas's classes, at
elephas's path `sparkeras.spark_model`, are these with elephas's return types.
A facade over the driver's training engine and inference."""
import numpy as np
from pyspark import RDD

from sparkeras.driver import algorithms, engine, ensemble, inference, model_file, model_spec, stage
from sparkeras.driver.history import History
from sparkeras.driver.job_config import FitArguments, TrainingSettings
from sparkeras.driver.session import active_context, refuse_connect
from sparkeras.errors import ModelSpecError, TrainingFailed
from sparkeras.executor import feed
from sparkeras.utils.rdd_utils import lp_to_simple_rdd

__all__ = ["SparkModel", "AsynchronousSparkModel", "SparkMLlibModel", "load_spark_model", "History", "TrainingFailed"]


class SparkModel:
    """Trains a compiled Keras model on Spark; the elephas API, with a JVM parameter server.

    Args:
        model: a compiled Keras model; after `fit` it holds the trained weights.
        mode: 'synchronous' (averaged gradients, or averaged weights with frequency='epoch'),
            'asynchronous' (default; each push applied as it arrives, under a lock) or
            'hogwild' (no lock).
        frequency: 'epoch' (default; workers train locally and push the change in their
            weights once per epoch) or 'batch' (workers push a gradient every batch, or their
            local progress every `communication_window` batches).
        parameter_server_mode: elephas's 'http' or 'socket'; accepted, and the one
            protocol of the JVM server is used either way.
        num_workers: training workers, one Spark task each (default: the cluster's default
            parallelism); a synchronous fit needs a task slot for each at once.
        custom_objects: custom Keras layers, losses or metrics by name, for the workers.
        batch_size: the default batch size of fit, predict and evaluate (default 32).
        port: elephas's server port; accepted and ignored (the server picks a free port).
        communication_window: with frequency='batch', push every this many batches (default 1);
            with an algorithm, its window (default: the algorithm's, see below).
        merge: how asynchronous and hogwild modes apply a pushed change in weights: 'average'
            (default) moves the master weights by change / num_workers, so that after every
            worker has pushed once they hold the mean of their progress; 'sum' adds each
            change whole, as elephas does, which overshoots with adaptive optimizers.
        algorithm: one of dist-keras's distributed algorithms, in the asynchronous and hogwild
            modes: 'downpour', 'agn', 'adag', 'dynsgd', 'aeasgd', 'eamsgd', 'averaging' or
            'ensemble' (the README's table says what each does, and its defaults). It sets
            frequency and merge itself. With 'ensemble', every worker trains its own model:
            after fit, `members` holds them and `master_network` is their averaging ensemble
            (predict and evaluate use it); the Keras model given stays as it was.
        rho, learning_rate: the elastic algorithms' (aeasgd, eamsgd) moving rate is rho *
            learning_rate; eamsgd's workers take SGD steps at learning_rate with Nesterov
            `momentum`. gamma: ADAG's scale of how far a weight may move before a stale change
            to it is damped. Each is accepted only by the algorithms that use it.
        max_frame_mb: the largest message the server accepts (default 1024 MB).
        threads_per_worker: TensorFlow threads per worker (default: the executor's cores
            divided among its tasks).
        overlap: with frequency='batch' in the asynchronous and hogwild modes, True lets a
            worker compute each step while the previous step's gradient is on its way to the
            server, on the weights it has: one of its own steps behind (History's
            params['local_staleness'] says 1). Faster where the wait is the network, at some
            accuracy early in training. False (default) waits for the fresh weights before
            every step. Synchronous rounds are always exact.
    """

    def __init__(self, model, mode="asynchronous", frequency=None, parameter_server_mode="socket",
                 num_workers=None, custom_objects=None, batch_size=32, port=None, *args,
                 communication_window=None, merge=None, max_frame_mb=1024, threads_per_worker=None,
                 algorithm=None, rho=None, learning_rate=None, gamma=None, momentum=None, overlap=False, **kwargs):
        refuse_connect(type(self).__name__)
        if parameter_server_mode not in ("http", "socket"):
            raise ModelSpecError(f"parameter_server_mode must be 'http' or 'socket'; got {parameter_server_mode!r}")
        if num_workers is not None and int(num_workers) < 1:
            raise ModelSpecError(f"num_workers must be at least 1; got {num_workers}")
        chosen = algorithms.resolve(algorithm, mode, frequency, communication_window, merge,
                                    rho=rho, learning_rate=learning_rate, gamma=gamma, momentum=momentum)
        self.settings = TrainingSettings(
            mode=mode, frequency=frequency or "epoch", communication_window=int(communication_window or 1),
            merge=merge or "average", max_frame_bytes=int(max_frame_mb) * (1 << 20),
            threads_per_worker=threads_per_worker, custom_objects=custom_objects or {}, algorithm=chosen,
            overlap=overlap)
        self._master_network = model
        self._trains = model  # what fit trains (the ensemble algorithm replaces master_network with its result)
        self.members = None
        # The JVM server speaks one protocol; elephas's server choice and port are accepted and ignored.
        self.parameter_server_mode = parameter_server_mode
        self.port = port
        self.num_workers = None if num_workers is None else int(num_workers)
        self.batch_size = int(batch_size)
        self.kwargs = kwargs
        self.training_histories = []

    mode = property(lambda self: self.settings.mode)
    frequency = property(lambda self: self.settings.frequency)
    communication_window = property(lambda self: self.settings.communication_window)
    merge = property(lambda self: self.settings.merge)
    custom_objects = property(lambda self: self.settings.custom_objects)
    algorithm = property(lambda self: self.settings.algorithm.name if self.settings.algorithm else None)

    # elephas exposes the Keras model under this name
    @property
    def master_network(self):
        return self._master_network

    @master_network.setter
    def master_network(self, model):
        self._master_network = self._trains = model

    def get_config(self):
        config = {
            "mode": self.mode, "frequency": self.frequency, "num_workers": self.num_workers,
            "batch_size": self.batch_size, "communication_window": self.communication_window,
            "merge": self.merge, "parameter_server_mode": self.parameter_server_mode,
        }
        if self.settings.overlap:  # saved only when not the default, so elephas's keys stay as they were
            config["overlap"] = True
        chosen = self.settings.algorithm
        if chosen is not None:  # the algorithm fixes frequency and merge; saved so that load_spark_model rebuilds it
            del config["frequency"], config["merge"]
            config.update(algorithm=chosen.name, **chosen.params)
        return config

    def fit(self, rdd, epochs=10, batch_size=None, verbose=0, validation_split=0.0, shuffle=True, seed=None,
            checkpoint_dir=None, checkpoint_every=1, keep_checkpoints=3, resume=None, callbacks=None,
            validation_data=None, validation_freq=1, class_weight=None, initial_epoch=0, **kwargs):
        """Trains on an RDD of (features, label) pairs; returns a Keras-style History and
        leaves the trained weights in the Keras model.

        Args:
            rdd: (features, label) pairs, or (features, label, sample weight) triples; features
                a number or an array of the input's shape (a tuple of arrays, or one flat
                array, for several inputs), a label a tuple per output for several outputs.
            epochs: passes over the data (default 10). batch_size: per worker (default: the
                SparkModel's). verbose: 0 silent (default), 1 Keras's progress bar, 2 a line
                per epoch. validation_split: the fraction of each worker's rows held out.
            shuffle: shuffle each epoch (default True). seed: for the shuffles and the workers.
            checkpoint_dir, checkpoint_every, keep_checkpoints, resume: checkpoints, below.
            callbacks: Keras callbacks, run on the driver as epochs complete.
            validation_data, validation_freq, class_weight, initial_epoch: as in model.fit, below.
        Other Keras arguments (steps_per_epoch, sample_weight, ...) are errors naming them.

        With `checkpoint_dir` (any Hadoop URI), the driver JVM writes the job's state there
        every `checkpoint_every` epochs, keeping the last `keep_checkpoints`; a fit given a
        directory that holds a checkpoint of the same job resumes from it (`resume=False`
        starts afresh).

        `validation_data=(x_val, y_val)` is evaluated on the driver with each epoch's weights
        (every `validation_freq` epochs), before that epoch's callbacks, as under model.fit;
        the workers then keep no rows back for validation. `class_weight={class: weight}`
        weighs each training row's loss by its label's class, as model.fit does; with
        `initial_epoch`, training runs epochs initial_epoch..epochs-1, as model.fit's does."""
        if "sample_weight" in kwargs:
            raise ModelSpecError("fit() takes sample weights in the rows: give each row as (features, label, weight), "
                                 "the weight a non-negative number (elephas's to_simple_rdd rows have none)")
        model_spec.refuse_unknown("fit", kwargs, _FIT_ARGUMENTS)
        model = self._trains
        args = FitArguments(epochs=epochs, batch_size=self.batch_size if batch_size is None else batch_size,
                            validation_split=validation_split, shuffle=shuffle, seed=seed, verbose=verbose,
                            checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
                            keep_checkpoints=keep_checkpoints, resume=resume, validation_data=validation_data,
                            validation_freq=validation_freq, class_weight=class_weight, initial_epoch=initial_epoch)
        model_spec.check_compiled(model)
        model_spec.server_rule(model, self.frequency, self.communication_window)
        with engine.quiet_spark_console(rdd.context, verbose):
            first = stage.first_row(rdd)
            if first is None:
                raise ModelSpecError("the RDD is empty: there is nothing to train or evaluate on")
            if not (isinstance(first, (tuple, list)) and len(first) in (2, 3)):
                raise ModelSpecError(
                    "fit expects an RDD of (features, label) pairs, as made by sparkeras.utils.rdd_utils.to_simple_rdd, "
                    f"or (features, label, sample weight) triples; the first element is a {type(first).__name__}")
            if len(first) == 3:
                model_spec.check_sample_weight(first[2], class_weight, where="the RDD")
            model_spec.check_sample(model, first[0], first[1], where="the RDD")
            history = engine.fit(model, stage.RowSource(rdd, inputs=model_spec.feed_shapes(model),
                                                        outputs=len(model.outputs)),
                                 self.settings, args,
                                 self.num_workers, callbacks=callbacks or ())
        self.training_histories.append(history.history)
        if getattr(history, "members", None) is not None:  # the ensemble algorithm
            self.members = history.members
            self._master_network = ensemble.average_ensemble(self.members, name=f"{model.name}_ensemble")
        return history

    def predict(self, data, batch_size=None, **kwargs):
        """Predictions for a numpy array or an RDD of feature rows, computed on the executors.

        Args:
            data: a numpy array of rows, or an RDD of feature rows. For a model with several
                inputs, a list with one array per input, or one array of flat rows that are
                split across the inputs in order (as elephas does).
            batch_size: rows per prediction step (default: the model's batch_size).
            verbose: accepted, as in Keras, and ignored; other keyword arguments are errors
                naming them.

        Returns: one numpy array (a list of them for a model with several outputs), as
        Keras's predict; elephas's `sparkeras.spark_model.SparkModel` returns a list of rows.
        """
        model_spec.refuse_unknown("predict", kwargs, ("data", "batch_size", "verbose"), ignored=("verbose",))
        model = self._master_network
        batch_size = int(batch_size or self.batch_size or 32)
        if isinstance(data, RDD):
            source = stage.RowSource(data, with_labels=False, inputs=model_spec.feed_shapes(model))
            workers = data.getNumPartitions()
        else:
            xs = _input_arrays(model, data)
            n = len(xs[0])
            if n == 0:
                return np.zeros((0,) + tuple(model.outputs[0].shape[1:]), dtype=np.float32)
            if len(xs) == 1:
                model_spec.check_sample(model, xs[0][0], None, where="the input")
            sc = active_context()
            workers = min(n, self.num_workers or sc.defaultParallelism)
            blocks = [(parts, None) for parts in _split_rows(xs, workers)]
            source = stage.RowSource(sc.parallelize(blocks, workers), with_labels=False, blocks=True)
        return inference.predict(model, source, workers, batch_size, self.custom_objects,
                                 self.settings.threads_per_worker)

    def evaluate(self, x_test, y_test=None, batch_size=None, return_dict=False, **kwargs):
        """What `model.evaluate` returns, computed on the executors: metric states are summed
        across partitions, so the result equals Keras's on the same data.

        Args:
            x_test: feature rows (as for predict), or an RDD of (features, label) pairs.
            y_test: the labels, when x_test is an array.
            batch_size: rows per evaluation step (default: the model's batch_size).
            return_dict: a dict by metric name instead of a list, as in Keras.
            verbose: accepted, as in Keras, and ignored.
        """
        model_spec.refuse_unknown("evaluate", kwargs, ("x_test", "y_test", "batch_size", "return_dict", "verbose"),
                                  ignored=("verbose",))
        model = self._master_network
        model_spec.check_compiled(model)
        batch_size = int(batch_size or self.batch_size or 32)
        if isinstance(x_test, RDD):
            sample = stage.first_row(x_test)
            if sample is None:
                raise ModelSpecError("the evaluation data is empty")
            source = stage.RowSource(x_test, inputs=model_spec.feed_shapes(model), outputs=len(model.outputs))
            workers = x_test.getNumPartitions()
        else:
            xs, y = _input_arrays(model, x_test), np.asarray(y_test)
            if len(xs[0]) != len(y):
                raise ModelSpecError(f"x_test has {len(xs[0])} rows but y_test has {len(y)}")
            if len(y) == 0:
                raise ModelSpecError("the evaluation data is empty")
            sc = active_context()
            workers = min(len(y), self.num_workers or sc.defaultParallelism)
            blocks = list(zip(_split_rows(xs, workers), np.array_split(y, workers)))
            source = stage.RowSource(sc.parallelize(blocks, workers), blocks=True)
            sample = ([x[0] for x in xs] if len(xs) > 1 else xs[0][0], y[0])
        model_spec.check_sample(model, sample[0], sample[1], where="the evaluation data")
        return inference.evaluate(model, source, workers, batch_size, sample, return_dict, self.custom_objects,
                                  self.settings.threads_per_worker)

    def save(self, file_name, overwrite=True):
        """Saves the Keras model, its weights and this SparkModel's configuration in one file
        (`.keras`, or `.h5` as elephas writes it)."""
        model_file.save(self._master_network, type(self).__name__, self.get_config(), file_name, overwrite)


def _input_arrays(model, data):
    """Feature rows given on the driver as one array per model input: a list/tuple with an
    array per input (as Keras takes them), or one array split across the inputs."""
    shapes = model_spec.feed_shapes(model)
    if len(shapes) > 1 and isinstance(data, (list, tuple)) and len(data) == len(shapes):
        return [feed.split_array(d, [shape])[0] for d, shape in zip(data, shapes)]
    return feed.split_array(data, shapes)


def _split_rows(xs, parts):
    """Per-input arrays cut into `parts` blocks of rows: [[input arrays of block 0], ...]."""
    cut = [np.array_split(x, parts) for x in xs]
    return [[c[i] for c in cut] for i in range(parts)]


_FIT_ARGUMENTS = ("rdd", "epochs", "batch_size", "verbose", "validation_split", "shuffle", "seed", "checkpoint_dir",
                  "checkpoint_every", "keep_checkpoints", "resume", "callbacks", "validation_data", "validation_freq",
                  "class_weight", "initial_epoch")


class AsynchronousSparkModel(SparkModel):
    """elephas 7's name for the asynchronous and hogwild modes."""

    def __init__(self, model, mode="asynchronous", frequency=None, parameter_server_mode="http", *args, **kwargs):
        if mode not in ("asynchronous", "hogwild"):
            raise ModelSpecError(f"AsynchronousSparkModel runs mode 'asynchronous' or 'hogwild'; got {mode!r}")
        super().__init__(model, mode=mode, frequency=frequency, parameter_server_mode=parameter_server_mode,
                         *args, **kwargs)


class SparkMLlibModel(SparkModel):
    """elephas's model for RDDs of MLlib LabeledPoints."""

    def fit(self, labeled_points, epochs=10, batch_size=32, verbose=0, validation_split=0.1,
            categorical=False, nb_classes=None, **kwargs):
        rdd = lp_to_simple_rdd(labeled_points, categorical, nb_classes)
        return super().fit(rdd, epochs=epochs, batch_size=batch_size, verbose=verbose,
                           validation_split=validation_split, **kwargs)

    train = fit  # elephas's older name

    def predict(self, mllib_data, batch_size=None):
        """Predictions for an MLlib Vector, a numpy array of rows, or an RDD of rows."""
        if isinstance(mllib_data, RDD):
            return super().predict(mllib_data.map(lambda v: v.toArray() if hasattr(v, "toArray") else v), batch_size)
        data = mllib_data.toArray() if hasattr(mllib_data, "toArray") else np.asarray(mllib_data)
        single = data.ndim == 1
        out = super().predict(data[None] if single else data, batch_size)
        return out[0] if single else out


def load_spark_model(file_name, custom_objects=None):
    """Loads what `SparkModel.save` (sparkeras's or elephas's) wrote: the Keras model with its
    weights and the distributed settings, as the class that saved it."""
    return load_as(file_name, custom_objects, {c.__name__: c for c in (SparkModel, AsynchronousSparkModel,
                                                                       SparkMLlibModel)})


def load_as(file_name, custom_objects, classes):
    """The saved model as the class of `classes` (by name) that saved it; SparkModel for an unknown name."""
    model, class_name, settings = model_file.load(file_name, custom_objects)
    settings.pop("parameter_server_mode", None)
    settings.pop("custom_objects", None)
    cls = classes.get(class_name, classes["SparkModel"])
    return cls(model, custom_objects=custom_objects, **settings)
