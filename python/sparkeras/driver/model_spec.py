"""What the driver knows about a Keras model before training: its serialized form,
the server-side update rule its optimizer maps to, and checks of model and data."""
import json
from dataclasses import dataclass

import numpy as np

from sparkeras.errors import ModelSpecError

MODES = ("synchronous", "asynchronous", "hogwild")
FREQUENCIES = ("epoch", "batch")

# Keras optimizer class -> (server rule, its own hyper-parameters). AdamW is Adam with weight decay.
_ADAM = ("beta_1", "beta_2", "epsilon", "amsgrad")
_SERVER_RULES = {
    "SGD": ("sgd", ("momentum", "nesterov")),
    "Adam": ("adam", _ADAM),
    "AdamW": ("adam", _ADAM),
    "Adamax": ("adamax", ("beta_1", "beta_2", "epsilon")),
    "Nadam": ("nadam", ("beta_1", "beta_2", "epsilon")),
    "RMSprop": ("rmsprop", ("rho", "momentum", "epsilon", "centered")),
    "Adagrad": ("adagrad", ("initial_accumulator_value", "epsilon")),
    "Adadelta": ("adadelta", ("rho", "epsilon")),
    "Adafactor": ("adafactor", ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold")),
    "Ftrl": ("ftrl", ("learning_rate_power", "initial_accumulator_value", "l1_regularization_strength",
                      "l2_regularization_strength", "l2_shrinkage_regularization_strength", "beta")),
    "Lion": ("lion", ("beta_1", "beta_2")),
    "Lamb": ("lamb", ("beta_1", "beta_2", "epsilon")),
}
# What keras.optimizers.Optimizer does around every optimizer's step; the server does it too.
_BASE_OPTIONS = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
                 "ema_overwrite_frequency")
_UNSUPPORTED_OPTIONS = ("gradient_accumulation_steps", "loss_scale_factor")
_SCHEDULES = ("ExponentialDecay", "InverseTimeDecay", "PiecewiseConstantDecay", "PolynomialDecay", "CosineDecay",
              "CosineDecayRestarts")


@dataclass(frozen=True)
class ServerOptimizer:
    """The update rule the parameter server runs: its name and Keras hyper-parameters, the
    learning-rate schedule if any, and the trainable variables excluded from weight decay."""
    rule: str
    params: dict
    schedule: dict = None  # {"class_name", "params", "boundaries", "values"}
    no_weight_decay: tuple = ()

def check_mode(mode, frequency):
    if mode not in MODES:
        raise ModelSpecError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if frequency not in FREQUENCIES:
        raise ModelSpecError(f"frequency must be one of {', '.join(FREQUENCIES)}; got {frequency!r}")


def check_compiled(model):
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        raise ModelSpecError(
            "the Keras model is not compiled; call model.compile(optimizer=..., loss=...) before handing it to sparkeras")
    if getattr(model, "loss", None) is None:
        raise ModelSpecError("the Keras model was compiled without a loss; pass loss=... to model.compile")
    try:
        weights = (model.get_compile_config() or {}).get("loss_weights")
    except Exception:  # an optimizer or schedule Keras cannot serialize; server_rule names it
        weights = None
    if isinstance(weights, (list, tuple)) and any(isinstance(w, str) for w in weights):
        raise ModelSpecError(
            f"the model was compiled with loss_weights={list(weights)}: metrics given as compile's third positional "
            "argument, which Keras 3 reads as loss_weights (Keras 2 read metrics there). Compile with "
            f"metrics={list(weights)} instead; model.fit fails on this model too")


def model_json(model):
    return model.to_json()


def compile_json(model):
    return json.dumps(model.get_compile_config(), default=_json_default)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialize {type(value).__name__} in the compile config")


def server_rule(model, frequency, communication_window):
    """The ServerOptimizer for this model and settings.

    Pushes of local progress (frequency 'epoch', or a window of local steps) are merged as
    deltas; per-batch gradients run the model's own optimizer on the server, with Keras's math.
    """
    if frequency == "epoch" or communication_window > 1:
        return ServerOptimizer("delta", {})
    optimizer = model.optimizer
    name = type(optimizer).__name__
    if name not in _SERVER_RULES or not type(optimizer).__module__.startswith("keras."):
        supported = ", ".join(sorted(_SERVER_RULES))
        raise ModelSpecError(
            f"frequency='batch' applies the model's optimizer on the parameter server, which implements Keras's "
            f"built-in {supported}; the model is compiled with {type(optimizer).__module__}.{name}. Compile with one "
            "of those, or use frequency='epoch', where each worker runs the model's own optimizer")
    schedule = _schedule(optimizer)
    config = optimizer.get_config()
    for option in _UNSUPPORTED_OPTIONS:
        if config.get(option) not in (None, False, 0, 1):
            raise ModelSpecError(
                f"the optimizer's {option}={config[option]!r} is not applied by the parameter server; "
                "remove it or use frequency='epoch'")
    rule, keys = _SERVER_RULES[name]
    params = {k: float(config[k]) for k in keys + _BASE_OPTIONS if config.get(k) is not None}
    if schedule is None:
        params["learning_rate"] = float(config["learning_rate"])
    excluded = ()
    if params.get("weight_decay"):
        excluded = tuple(i for i, v in enumerate(model.trainable_weights) if not optimizer._use_weight_decay(v))
    return ServerOptimizer(rule, params, schedule, excluded)


def override_learning_rate(model, lr):
    """The learningRate Param: replaces the compiled optimizer's constant learning rate."""
    if callable(getattr(model.optimizer, "_learning_rate", None)):
        raise ModelSpecError("learningRate overrides a constant learning rate, but the model's optimizer was compiled "
                             "with a learning-rate schedule; change the schedule instead")
    model.optimizer.learning_rate.assign(float(lr))


def _schedule(optimizer):
    """The optimizer's learning-rate schedule as the server takes it, None for a constant rate."""
    import keras
    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, (int, float)) or not callable(schedule):
        return None  # a float, or the Keras variable holding one
    kind = type(schedule).__name__
    if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule) or kind not in _SCHEDULES \
            or not type(schedule).__module__.startswith("keras."):
        raise ModelSpecError(
            f"the optimizer's learning rate is {type(schedule).__module__}.{kind}; the parameter server evaluates "
            f"Keras's built-in schedules ({', '.join(_SCHEDULES)}) at its own step count. Use one of those, a "
            "constant learning rate, or frequency='epoch'")
    settings = schedule.get_config()
    params = {k: float(v) for k, v in settings.items()
              if isinstance(v, (bool, int, float, np.number)) and k not in ("boundaries", "values")}
    return {"class_name": kind, "params": params,
            "boundaries": [float(b) for b in settings.get("boundaries", ())],
            "values": [float(v) for v in settings.get("values", ())]}

def trainable_and_rest(model):
    """The model's weights as the wire orders them: trainable variables, then non-trainable ones."""
    return [np.asarray(v.numpy()) for v in model.trainable_weights] + [
        np.asarray(v.numpy()) for v in model.non_trainable_weights]


def loss_name(model):
    loss = model.loss
    if isinstance(loss, str):
        return loss
    name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    return str(name).lower()


def check_sample_weight(weight, class_weight, where="the data"):
    """A row's sample weight (the third element of a training row): one finite, non-negative number."""
    if class_weight:
        raise ModelSpecError(f"rows in {where} carry sample weights and fit was given class_weight; Keras takes one "
                             "or the other: fold the class weights into the sample weights")
    w = np.asarray(weight)
    if w.size != 1 or w.dtype.kind not in "biuf" or not np.isfinite(float(w.reshape(-1)[0])) or float(w.reshape(-1)[0]) < 0:
        raise ModelSpecError(f"the third element of a row in {where} is the sample weight: one finite, non-negative "
                             f"number; got {weight!r}")


def _output_names(model):
    names = getattr(model, "output_names", None)
    return list(names) if names else [o.name for o in model.outputs]


def _check_finite(y, where):
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
        raise ModelSpecError(f"the first label in {where} is {y.reshape(-1)[:4].tolist()}: labels must be finite numbers")


def check_sample(model, x, y, where="the data"):
    """Checks one feature row and label against the model's input, output and loss."""
    inputs = model.inputs if getattr(model, "inputs", None) else None
    if inputs is not None and len(inputs) == 1:
        x = np.asarray(x)
        expected = tuple(inputs[0].shape[1:])
        # a number for a one-value input, or a flat row of an image's size, is reshaped in the feed
        reshaped = None not in expected and x.size == int(np.prod(expected))
        if not reshaped and (len(expected) != x.ndim
                             or any(e is not None and e != a for e, a in zip(expected, x.shape))):
            raise ModelSpecError(
                f"features in {where} have shape {x.shape} per row but the model expects {expected}")
    if y is None:
        return
    outputs = model.outputs if getattr(model, "outputs", None) else None
    if outputs is not None and len(outputs) > 1:
        if not isinstance(y, (tuple, list)) or len(y) != len(outputs):
            raise ModelSpecError(
                f"the model has {len(outputs)} outputs, so each label in {where} must be a tuple of {len(outputs)} "
                f"labels in the order of model.outputs ({', '.join(_output_names(model))}); got {type(y).__name__}")
        for label in y:
            _check_finite(np.asarray(label), where)
        return
    y = np.asarray(y)
    _check_finite(y, where)
    if outputs is None or len(outputs) != 1:
        return
    out_shape = tuple(outputs[0].shape[1:])
    loss = loss_name(model)
    if "sparse_categorical" in loss:
        if y.size != 1:
            raise ModelSpecError(
                f"labels in {where} have shape {y.shape} but the loss {loss} expects one integer class per row; "
                "use categorical_crossentropy for one-hot labels")
        classes = out_shape[-1] if out_shape else None
        value = float(y.reshape(-1)[0])
        if value != int(value) or value < 0 or (classes is not None and value >= classes):
            raise ModelSpecError(
                f"label {y.reshape(-1)[0]!r} in {where} is not a class index in [0, {classes}) for loss {loss}")
    elif y.shape != out_shape and not (y.size == int(np.prod(out_shape)) and y.size == 1):
        hint = " (one-hot encode them, or use sparse_categorical_crossentropy)" if y.size == 1 and out_shape[-1:] != (1,) else ""
        raise ModelSpecError(
            f"labels in {where} have shape {y.shape} per row but the model's output is {out_shape} "
            f"with loss {loss}{hint}")


_CLASSIFICATION_LOSSES = ("crossentropy", "hinge", "kl_divergence", "kld", "focal")


def infer_task(model, task=None):
    """'classification' or 'regression': as given, else from the compiled loss."""
    if task:
        if task not in ("classification", "regression"):
            raise ModelSpecError(f"task must be 'classification' or 'regression'; got {task!r}")
        return task
    loss = str(loss_name(model)).lower()
    return "classification" if any(k in loss for k in _CLASSIFICATION_LOSSES) else "regression"


def input_shapes(model):
    """Per-row shape of each model input, e.g. [(784,)] or [(28, 28, 1), (10,)]."""
    return [tuple(int(d) for d in t.shape[1:]) for t in model.inputs]


def feed_shapes(model):
    """Per-row shape of each model input as the feed reshapes rows to; None for a free dimension."""
    return [tuple(None if d is None else int(d) for d in t.shape[1:]) for t in model.inputs]


def output_width(model):
    return int(np.prod(model.outputs[0].shape[1:]))


# Keras arguments that sparkeras's fit, evaluate and predict do not implement yet: an error
# says so instead of training as if they had been applied.
_KERAS_ONLY = {"sample_weight", "steps_per_epoch",
               "validation_steps", "validation_batch_size", "steps",
               "max_queue_size", "workers", "use_multiprocessing", "x", "y"}


def refuse_unknown(method, kwargs, accepted, ignored=()):
    """Keyword arguments that `method` does not take are errors that name them; `ignored`
    ones (accepted for Keras compatibility, with no effect here) pass silently."""
    unknown = sorted(k for k in kwargs if k not in ignored)
    if not unknown:
        return
    keras_only = [k for k in unknown if k in _KERAS_ONLY]
    others = [k for k in unknown if k not in _KERAS_ONLY]
    parts = []
    if keras_only:
        parts.append(f"{', '.join(keras_only)}: Keras's {method} takes {'it' if len(keras_only) == 1 else 'them'}, "
                     "sparkeras does not support it yet")
    if others:
        parts.append(f"{', '.join(others)}: not an argument of {method}")
    raise ModelSpecError(f"{method}() got unexpected keyword arguments ({'; '.join(parts)}). "
                         f"It accepts: {', '.join(accepted)}")
