"""The JobConfig the driver sends the parameter server: model spec, mode, update rule
and initial weights. One builder for the PySpark API and for the Scala stages."""
import os
from dataclasses import dataclass, field

import numpy as np

from sparkeras.driver import algorithms, model_spec
from sparkeras.errors import ModelSpecError
from sparkeras.wire import sparkeras_pb2 as wire
from sparkeras.wire.codec import from_tensor, to_tensor


@dataclass(frozen=True)
class TrainingSettings:
    """How a model is trained, independent of the data: what SparkModel and KerasEstimator configure."""
    mode: str = "asynchronous"
    frequency: str = "epoch"
    communication_window: int = 1
    merge: str = "average"
    max_frame_bytes: int = 1 << 30
    threads_per_worker: int = None
    custom_objects: dict = field(default_factory=dict)
    algorithm: algorithms.Algorithm = None  # one of dist-keras's algorithms (driver/algorithms.py), or sparkeras's own
    overlap: bool = False  # asynchronous/hogwild per-batch gradients: push while the next step computes

    def __post_init__(self):
        if self.algorithm is not None:  # the algorithm decides what the window counts and how long it is
            object.__setattr__(self, "frequency", self.algorithm.frequency)
            object.__setattr__(self, "communication_window", self.algorithm.communication_window)
        model_spec.check_mode(self.mode, self.frequency)
        if self.merge not in ("average", "sum"):
            raise ModelSpecError(f"merge must be 'average' or 'sum'; got {self.merge!r}")
        if int(self.communication_window) < 1:
            raise ModelSpecError(f"communication_window must be at least 1; got {self.communication_window}")
        if not isinstance(self.overlap, (bool, np.bool_)):
            raise ModelSpecError(f"overlap must be True or False; got {self.overlap!r}")


@dataclass(frozen=True)
class FitArguments:
    """The arguments of one fit, checked before any Spark work."""
    epochs: int = 10
    batch_size: int = 32
    validation_split: float = 0.0
    shuffle: bool = True
    seed: int = None
    verbose: int = 0
    checkpoint_dir: str = None
    checkpoint_every: int = 1
    keep_checkpoints: int = 3
    resume: bool = None  # None: resume when checkpoint_dir holds a checkpoint
    # (x, y) arrays, evaluated on the driver with each epoch's weights, as model.fit does;
    # workers then hold no rows back (Keras ignores validation_split when it is given).
    validation_data: tuple = None
    validation_freq: object = 1  # an int (every n epochs) or the 1-based epochs to validate
    class_weight: dict = None  # {class index: weight}, as model.fit takes it
    initial_epoch: int = 0  # as model.fit: train epochs initial_epoch..epochs-1

    def __post_init__(self):
        for name in ("epochs", "batch_size", "checkpoint_every", "keep_checkpoints"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ModelSpecError(f"{name} must be a whole number of at least 1; got {value!r}")
        if not 0.0 <= float(self.validation_split) < 1.0:
            raise ModelSpecError(f"validation_split must be in [0, 1); got {self.validation_split}")
        if self.validation_data is not None:
            data = self.validation_data
            if not isinstance(data, (tuple, list)) or len(data) not in (2, 3) or hasattr(data[0], "getNumPartitions"):
                raise ModelSpecError(
                    "validation_data takes arrays (x_val, y_val) (or with sample weights), evaluated on the driver "
                    "with each epoch's weights; to validate on rows of an RDD, use validation_split")
            object.__setattr__(self, "validation_split", 0.0)
        if isinstance(self.initial_epoch, bool) or not isinstance(self.initial_epoch, (int, np.integer)) \
                or not 0 <= self.initial_epoch < self.epochs:
            raise ModelSpecError(f"initial_epoch must be a whole number in [0, epochs) = [0, {self.epochs}); got "
                                 f"{self.initial_epoch!r} (as in Keras, epochs is the index to stop at, not a count)")
        if self.class_weight is not None:
            weights = self.class_weight
            if not isinstance(weights, dict) or not all(
                    isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 0 and
                    np.isfinite(float(v)) and float(v) >= 0 for k, v in weights.items()):
                raise ModelSpecError("class_weight must map class indices (whole numbers from 0) to finite, "
                                     f"non-negative weights; got {weights!r}")
        freq = self.validation_freq
        if not ((isinstance(freq, int) and not isinstance(freq, bool) and freq >= 1) or
                (isinstance(freq, (list, tuple, set)) and all(isinstance(e, int) and e >= 1 for e in freq))):
            raise ModelSpecError(f"validation_freq must be a whole number of at least 1, or a list of epochs; got {freq!r}")

    def validates(self, epoch):
        """Whether model.fit would validate after `epoch` (0-based)."""
        if self.validation_data is None:
            return False
        if isinstance(self.validation_freq, int):
            return (epoch + 1) % self.validation_freq == 0
        return epoch + 1 in self.validation_freq


def check_trainable(model, settings):
    """Everything about the model that can be refused before Spark work."""
    model_spec.check_compiled(model)
    server_rule(model, settings)


def server_rule(model, settings):
    """The ServerOptimizer (update rule, parameters, schedule) the server runs for this model and settings."""
    if settings.algorithm is not None:  # every algorithm pushes changes in weights, merged by its own rule
        return model_spec.ServerOptimizer("delta", {})
    return model_spec.server_rule(model, settings.frequency, settings.communication_window)


def _delta_scale(settings, num_workers):
    """How much of a pushed change the server adds: averaging and sparkeras's merge='average' take
    1/num_workers (the mean of the workers' progress); dist-keras's other algorithms add it whole."""
    name = settings.algorithm.name if settings.algorithm else None
    if name == "averaging" or (name is None and settings.merge == "average"):
        return 1.0 / num_workers
    return 1.0


def _compile_json(model, settings):
    """The compile config the workers train with; EAMSGD's workers take momentum SGD steps."""
    text = model_spec.compile_json(model)
    if settings.algorithm is None or settings.algorithm.name != "eamsgd":
        return text
    import json
    config = json.loads(text)
    config["optimizer"] = algorithms.eamsgd_optimizer(settings.algorithm)
    return json.dumps(config)


def build(model, settings, num_workers, args):
    """The JobConfig message for one fit of `model` with `num_workers` workers."""
    optimizer = server_rule(model, settings)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    config = wire.JobConfig(
        mode=settings.mode, frequency=settings.frequency, num_workers=int(num_workers), epochs=int(args.epochs),
        batch_size=int(args.batch_size), validation_split=float(args.validation_split),
        communication_window=int(settings.communication_window),
        model_json=model_spec.model_json(model), compile_json=_compile_json(model, settings),
        optimizer_class=optimizer.rule, shuffle=bool(args.shuffle),
        delta_scale=_delta_scale(settings, num_workers), seed=int(seed), overlap=bool(settings.overlap))
    if settings.algorithm is not None:
        config.algorithm = settings.algorithm.name
        for k, v in settings.algorithm.params.items():
            config.algorithm_params[k] = v
    for k, v in optimizer.params.items():
        config.optimizer_params[k] = v
    if optimizer.schedule is not None:
        schedule = config.learning_rate_schedule
        schedule.class_name = optimizer.schedule["class_name"]
        for k, v in optimizer.schedule["params"].items():
            schedule.params[k] = v
        schedule.boundaries.extend(optimizer.schedule["boundaries"])
        schedule.values.extend(optimizer.schedule["values"])
    config.no_weight_decay.extend(optimizer.no_weight_decay)
    config.initial_epoch = int(args.initial_epoch)
    if args.class_weight:
        if len(model.outputs) > 1:
            raise ModelSpecError("class_weight is for a model with one output (Keras refuses it for several too); "
                                 "weigh the outputs with loss_weights in compile")
        for k, v in args.class_weight.items():
            config.class_weight[int(k)] = float(v)
    # The trainable weights go apart, in initial_weights_push: the server streams them into its store.
    trainable = len(model.trainable_weights)
    for i, w in enumerate(model_spec.trainable_and_rest(model)):
        tensor = to_tensor(np.asarray(w, dtype=np.float32), out=config.initial_weights.add())
        if i < trainable:
            tensor.data = b""
    config.trainable_sizes.extend(int(np.prod(v.shape)) for v in model.trainable_weights)
    return config


def initial_weights_push(model):
    """The Push (kind INITIAL) the driver sends right after the configuration: the model's
    trainable weights, flat, as the server's store holds them."""
    flat = [np.asarray(v.numpy(), dtype=np.float32).ravel() for v in model.trainable_weights]
    return wire.Push(kind=wire.INITIAL, values=to_tensor(np.concatenate(flat) if flat else np.zeros(0, np.float32)))


def assign_state(model, state):
    """Copies the workers' averaged non-trainable float state (a WorkerState) into the Keras
    model: BatchNormalization's moving statistics, as trained on the executors."""
    if not state.samples:
        return
    flat = from_tensor(state.non_trainable)
    offset = 0
    for v in model.non_trainable_weights:
        if not _is_float(v):
            continue
        n = int(np.prod(v.shape))
        v.assign(flat[offset:offset + n].reshape(v.shape).astype(v.dtype))
        offset += n
    if offset != len(flat):
        raise ValueError(f"the workers' state has {len(flat)} values, the model's non-trainable floats {offset}")


def _is_float(variable):
    return "float" in str(variable.dtype)


def assign_trainable(model, flat):
    """Copies the server's flat trainable weights into the Keras model."""
    offset = 0
    for v in model.trainable_weights:
        n = int(np.prod(v.shape))
        v.assign(flat[offset:offset + n].reshape(v.shape))
        offset += n


def assign_iterations(model, iterations):
    """Sets the Keras optimizer's step count to the server's, so that a schedule's
    `optimizer.learning_rate` reads as after model.fit (delta merging keeps no count)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and iterations > 0:
        optimizer.iterations.assign(iterations)
