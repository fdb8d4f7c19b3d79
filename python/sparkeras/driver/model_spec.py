"""What the driver knows about a Keras model before training: its serialized form,
the server-side update rule its optimizer maps to, and checks of model and data."""
import json

import numpy as np

from sparkeras.errors import ModelSpecError

MODES = ("synchronous", "asynchronous", "hogwild")
FREQUENCIES = ("epoch", "batch")

# Keras optimizer class -> (server rule, hyper-parameters the rule reads)
_SERVER_RULES = {
    "SGD": ("sgd", ("learning_rate", "momentum", "nesterov")),
    "Adam": ("adam", ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad")),
    "RMSprop": ("rmsprop", ("learning_rate", "rho", "momentum", "epsilon", "centered")),
    "Adagrad": ("adagrad", ("learning_rate", "initial_accumulator_value", "epsilon")),
}
_UNSUPPORTED_OPTIONS = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "gradient_accumulation_steps")


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


def model_json(model):
    return model.to_json()


def compile_json(model):
    return json.dumps(model.get_compile_config(), default=_json_default)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialize {type(value).__name__} in the compile config")


def server_rule(model, frequency, communication_window):
    """The update rule the server applies and its parameters.

    Pushes of local progress (frequency 'epoch', or a window of local steps) are
    merged as deltas; per-batch gradients run the model's own optimizer on the server.
    """
    if frequency == "epoch" or communication_window > 1:
        return "delta", {}
    optimizer = model.optimizer
    name = type(optimizer).__name__
    if name not in _SERVER_RULES:
        supported = ", ".join(sorted(_SERVER_RULES))
        raise ModelSpecError(
            f"frequency='batch' applies the model's optimizer on the parameter server, which implements "
            f"{supported}; the model is compiled with {name}. Compile with one of those, or use frequency='epoch'")
    config = optimizer.get_config()
    for option in _UNSUPPORTED_OPTIONS:
        if config.get(option) not in (None, False, 0):
            raise ModelSpecError(
                f"the optimizer's {option}={config[option]!r} is not applied by the parameter server yet; "
                "remove it or use frequency='epoch'")
    if not isinstance(config.get("learning_rate"), (int, float)):
        raise ModelSpecError(
            "learning-rate schedules are not applied by the parameter server yet; use a constant learning rate "
            "or frequency='epoch'")
    rule, keys = _SERVER_RULES[name]
    return rule, {k: float(config[k]) for k in keys if k in config}


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


def check_sample(model, x, y, where="the data"):
    """Checks one feature row and label against the model's input, output and loss."""
    inputs = model.inputs if getattr(model, "inputs", None) else None
    if inputs is not None and len(inputs) == 1:
        x = np.asarray(x)
        expected = tuple(inputs[0].shape[1:])
        if len(expected) != x.ndim or any(e is not None and e != a for e, a in zip(expected, x.shape)):
            raise ModelSpecError(
                f"features in {where} have shape {x.shape} per row but the model expects {expected}")
    if y is None:
        return
    y = np.asarray(y)
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
        raise ModelSpecError(f"the first label in {where} is {y.reshape(-1)[:4].tolist()}: labels must be finite numbers")
    outputs = model.outputs if getattr(model, "outputs", None) else None
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


def output_width(model):
    return int(np.prod(model.outputs[0].shape[1:]))


# Keras arguments that sparkeras's fit, evaluate and predict do not implement yet: an error
# says so instead of training as if they had been applied.
_KERAS_ONLY = {"callbacks", "class_weight", "sample_weight", "initial_epoch", "steps_per_epoch",
               "validation_data", "validation_steps", "validation_batch_size", "validation_freq", "steps",
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
