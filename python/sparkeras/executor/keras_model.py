"""The Keras model inside a Python worker: rebuilt once per process from its JSON spec,
with compiled steps that stay traced across tasks and jobs."""
import hashlib
import json

import numpy as np

from sparkeras.executor.arrays import slice_rows

_models = {}


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
        # The state the driver averages after training: BatchNormalization's moving statistics.
        self.float_rest = [v for v in self.rest if "float" in str(v.dtype)]
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

        def assign_and_gradient(flat, x, y, sample_weight=None):
            # Keras's own train_step on freshly pulled weights, minus applying the
            # update: the server applies it. One call per step keeps TF dispatch cheap.
            assign(flat)
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                loss = model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
                model._loss_tracker.update_state(loss, sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
            grads = tape.gradient(loss, trainable)
            model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
            return tf.concat([tf.reshape(tf.convert_to_tensor(g), [-1]) for g in grads], 0)

        self._assign_fn = assign
        self._assign_and_gradient_fn = assign_and_gradient
        self.assign_flat = tf.function(assign, input_signature=[tf.TensorSpec([self.size], tf.float32)])
        self.read_flat = tf.function(lambda: tf.concat([tf.reshape(v, [-1]) for v in trainable], 0))
        test_step = tf.function(lambda x, y: model.test_step((x, y)), reduce_retracing=True)
        weighted_test_step = tf.function(lambda x, y, w: model.test_step((x, y, w)), reduce_retracing=True)
        self.test_step = lambda x, y, w=None: test_step(x, y) if w is None else weighted_test_step(x, y, w)
        self.predict_step = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def read_state(self):
        """The non-trainable float variables, flat float32 (None when the model has none)."""
        if not self.float_rest:
            return None
        return np.concatenate([np.asarray(v.numpy(), dtype=np.float32).ravel() for v in self.float_rest])

    def assign_state(self, flat):
        """Sets the non-trainable float variables from `flat` (what read_state gives)."""
        offset = 0
        for v in self.float_rest:
            n = int(np.prod(v.shape))
            v.assign(np.asarray(flat[offset:offset + n]).reshape(v.shape).astype(v.dtype))
            offset += n
        if offset != len(flat):
            raise ValueError(f"the resumed state has {len(flat)} values; the model's non-trainable floats {offset}")

    def build(self, x, y):
        """Creates optimizer and metric variables eagerly, so compiled steps never have to,
        and traces the hot-path steps once for this data's shapes."""
        import tensorflow as tf
        if not self._built:
            if self.model.optimizer is not None:
                self.model.optimizer.build(self.trainable)
                self._fresh_optimizer = [np.array(v.numpy()) for v in self.model.optimizer.variables]
            self.model.test_step((slice_rows(x, 0, 1), slice_rows(y, 0, 1)))
            self.reset_metrics()
            self._built = True
        xs = x if isinstance(x, (list, tuple)) else [x]
        ys = y if isinstance(y, (list, tuple)) else [y]
        key = (tuple((a.shape[1:], a.dtype) for a in xs), tuple((a.shape[1:], a.dtype) for a in ys))
        if self._traced_for == key:
            return
        x_specs = [tf.TensorSpec((None,) + tuple(a.shape[1:]), tf.as_dtype(a.dtype)) for a in xs]
        x_spec = x_specs if isinstance(x, (list, tuple)) else x_specs[0]
        y_specs = [tf.TensorSpec((None,) + tuple(a.shape[1:]), tf.as_dtype(a.dtype)) for a in ys]
        y_spec = y_specs if isinstance(y, (list, tuple)) else y_specs[0]
        flat_spec = tf.TensorSpec([self.size], tf.float32)
        model, gradient_fn = self.model, self._assign_and_gradient_fn
        # Concrete functions skip tf.function's per-call signature matching (~0.2 ms a step);
        # each is traced on first use only, since a job needs one or the other.
        w_spec = tf.TensorSpec((None,), tf.float32)  # per-row weights, from class_weight
        self._concrete = {
            # Unweighted: a function of exactly three arguments, so that a list of labels (several
            # outputs) is not taken for the optional weights.
            "assign_and_gradient": lambda: tf.function(lambda f, a, b: gradient_fn(f, a, b)).get_concrete_function(
                flat_spec, x_spec, y_spec),
            "train_step": lambda: tf.function(lambda a, b: model.train_step((a, b))).get_concrete_function(x_spec, y_spec),
            "weighted_assign_and_gradient":
                lambda: tf.function(gradient_fn).get_concrete_function(flat_spec, x_spec, y_spec, w_spec),
            "weighted_train_step":
                lambda: tf.function(lambda a, b, w: model.train_step((a, b, w))).get_concrete_function(x_spec, y_spec, w_spec),
        }
        self._traced = {}
        self._traced_for = key

    def step(self, name):
        """The compiled step `name` ('assign_and_gradient' or 'train_step', each also 'weighted_', taking
        per-row weights) for the current data shapes."""
        if name not in self._traced:
            self._traced[name] = self._concrete[name]()
        return self._traced[name]

    def start_job(self, job_key, initial_weights):
        """Fresh optimizer state and the job's initial weights, keeping the traced steps."""
        if self.job == job_key:
            return
        for v, w in zip(self.trainable + self.rest, initial_weights):
            if w is not None:  # None: a trainable weight, assigned from the Welcome's flat weights next
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
