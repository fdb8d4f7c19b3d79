"""The server's optimizers do Keras's arithmetic: with one worker, synchronous/batch and no
shuffling, training gives the weights Keras's own model.fit(shuffle=False) gives on the same
data, to float32 rounding; a changed hyper-parameter fails the comparison.

Every built-in optimizer is checked plain (with non-default hyper-parameters), with a
learning-rate schedule (the six built-in kinds are spread over the optimizers), with weight
decay, and with each clipping option; some also with their variants and with use_ema."""
import numpy as np
import pytest

from sparkeras import SparkModel, to_simple_rdd

# name -> (Keras class, learning rate, the class's own hyper-parameters, schedule for the "schedule" variant)
OPTIMIZERS = {
    "SGD": ("SGD", 0.05, {}, "ExponentialDecay"),
    "Adam": ("Adam", 0.01, {"beta_1": 0.85, "beta_2": 0.99, "epsilon": 1e-6}, "InverseTimeDecay"),
    "AdamW": ("AdamW", 0.01, {"weight_decay": 0.05}, "PiecewiseConstantDecay"),
    "Adamax": ("Adamax", 0.02, {"beta_1": 0.8}, "PolynomialDecay"),
    "Nadam": ("Nadam", 0.01, {"beta_2": 0.99}, "CosineDecay"),
    "RMSprop": ("RMSprop", 0.005, {"rho": 0.8}, "CosineDecayRestarts"),
    "Adagrad": ("Adagrad", 0.05, {"initial_accumulator_value": 0.2}, "ExponentialDecay"),
    "Adadelta": ("Adadelta", 1.0, {"rho": 0.9, "epsilon": 1e-4}, "InverseTimeDecay"),
    "Adafactor": ("Adafactor", 0.05, {"clip_threshold": 0.8}, "PiecewiseConstantDecay"),
    "Ftrl": ("Ftrl", 0.2, {"l1_regularization_strength": 0.001, "l2_regularization_strength": 0.01,
                           "l2_shrinkage_regularization_strength": 0.01, "beta": 0.1}, "PolynomialDecay"),
    "Lion": ("Lion", 0.002, {"beta_1": 0.85}, "CosineDecay"),
    "Lamb": ("Lamb", 0.01, {"beta_1": 0.85}, "CosineDecayRestarts"),
}
# Variants beyond the common ones, each with the options it adds.
EXTRA = {
    "SGD": {"momentum": {"momentum": 0.8}, "nesterov": {"momentum": 0.8, "nesterov": True}},
    "Adam": {"amsgrad": {"amsgrad": True}, "ema": {"use_ema": True, "ema_momentum": 0.9}},
    "RMSprop": {"momentum": {"momentum": 0.5}, "centered": {"centered": True, "epsilon": 1e-5}},
    "Nadam": {"ema-overwrite": {"use_ema": True, "ema_momentum": 0.8, "ema_overwrite_frequency": 7}},
}
COMMON = {
    "plain": {},
    "schedule": None,  # the optimizer's schedule replaces its learning rate
    "weight_decay": None,  # lr * weight_decay = 0.0025: the weights shrink by about 5% over the 20 steps
    "clipnorm": {"clipnorm": 0.05},
    "clipvalue": {"clipvalue": 0.01},
    "global_clipnorm": {"global_clipnorm": 0.08},
}


def _schedule(keras, kind, lr):
    s = keras.optimizers.schedules
    return {
        "ExponentialDecay": lambda: s.ExponentialDecay(lr, decay_steps=6, decay_rate=0.5),
        "InverseTimeDecay": lambda: s.InverseTimeDecay(lr, decay_steps=4, decay_rate=0.7, staircase=True),
        "PiecewiseConstantDecay": lambda: s.PiecewiseConstantDecay([5, 12], [lr, lr / 3, lr / 10]),
        "PolynomialDecay": lambda: s.PolynomialDecay(lr, decay_steps=15, end_learning_rate=lr / 20, power=1.5),
        "CosineDecay": lambda: s.CosineDecay(lr / 10, decay_steps=12, alpha=0.1, warmup_target=lr, warmup_steps=4),
        "CosineDecayRestarts": lambda: s.CosineDecayRestarts(lr, first_decay_steps=5, t_mul=1.5, m_mul=0.8),
    }[kind]()


def _optimizer(keras, name, variant):
    cls, lr, own, schedule = OPTIMIZERS[name]
    options = dict(own)
    if variant == "schedule":
        lr = _schedule(keras, schedule, lr)
    elif variant == "weight_decay":
        options["weight_decay"] = 0.0025 / lr
    else:
        options.update(COMMON.get(variant) or EXTRA.get(name, {}).get(variant, {}))
    optimizer = getattr(keras.optimizers, cls)(learning_rate=lr, **options)
    if name == "AdamW":
        optimizer.exclude_from_weight_decay(var_names=["bias"])
    return optimizer


def _model(optimizer):
    import keras
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="tanh"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer, "sparse_categorical_crossentropy")
    return model


def _relative_gap(a, b):
    return max(float(np.max(np.abs(x - y))) / max(float(np.max(np.abs(y))), 1e-12) for x, y in zip(a, b))


CASES = [(name, variant) for name in OPTIMIZERS for variant in list(COMMON) + list(EXTRA.get(name, {}))]


@pytest.mark.parametrize("name,variant", CASES, ids=[f"{n}-{v}" for n, v in CASES])
def test_server_optimizer_matches_keras_fit(sc, digits, name, variant):
    import keras
    x, y = digits[0][:320], digits[2][:320]
    reference = _model(_optimizer(keras, name, variant))
    reference.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)

    model = _model(_optimizer(keras, name, variant))
    history = SparkModel(model, mode="synchronous", frequency="batch", num_workers=1).fit(
        to_simple_rdd(sc, x, y, 1), epochs=2, batch_size=32, shuffle=False)
    gap = _relative_gap(model.get_weights(), reference.get_weights())
    assert gap < 1e-4, f"{name} {variant}: weights differ from model.fit's by {gap:.2e} (relative)"
    moved = _relative_gap(model.get_weights(), _model(_optimizer(keras, name, variant)).get_weights())
    assert moved > 1e-2, "training changed the weights"
    # The driver's optimizer counts the server's steps, so a schedule reads as after model.fit.
    assert int(model.optimizer.iterations) == int(reference.optimizer.iterations) == 20
    assert float(model.optimizer.learning_rate) == pytest.approx(float(reference.optimizer.learning_rate), rel=1e-6)
    assert history.params["server_learning_rate"] == pytest.approx(float(reference.optimizer.learning_rate), rel=1e-5)


CHANGES = {"rho": {"rho": 0.81}, "weight_decay": {"weight_decay": 0.6}, "schedule": {"decay_rate": 0.52},
           "clipnorm": {"clipnorm": 0.0525}}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_hyper_parameter_fails_the_comparison(sc, digits, change):
    import keras

    def rmsprop(**changes):
        o = dict(rho=0.8, weight_decay=0.5, clipnorm=0.05, decay_rate=0.5)
        o.update(changes)
        rate = keras.optimizers.schedules.ExponentialDecay(0.005, 6, o.pop("decay_rate"))
        return keras.optimizers.RMSprop(rate, **o)

    x, y = digits[0][:320], digits[2][:320]
    reference = _model(rmsprop())
    reference.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    model = _model(rmsprop(**CHANGES[change]))
    SparkModel(model, mode="synchronous", frequency="batch", num_workers=1).fit(
        to_simple_rdd(sc, x, y, 1), epochs=2, batch_size=32, shuffle=False)
    assert _relative_gap(model.get_weights(), reference.get_weights()) > 1e-3


def test_custom_optimizer_and_custom_schedule_are_refused_with_what_is_supported(sc, digits):
    import keras
    from sparkeras.errors import ModelSpecError

    class Halving(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.01 / (1.0 + keras.ops.cast(step, "float32"))

    class MyAdam(keras.optimizers.Adam):
        pass

    x, y = digits[0][:64], digits[2][:64]
    for optimizer, words in ((MyAdam(0.01), ("MyAdam", "Adafactor", "Lion", "frequency='epoch'")),
                             (keras.optimizers.SGD(Halving()), ("Halving", "CosineDecayRestarts", "frequency='epoch'"))):
        with pytest.raises(ModelSpecError) as e:
            SparkModel(_model(optimizer), mode="synchronous", frequency="batch", num_workers=1).fit(
                to_simple_rdd(sc, x, y, 1), epochs=1, batch_size=32)
        assert all(w in str(e.value) for w in words), str(e.value)


@pytest.mark.parametrize("frequency,labels", [("batch", "sparse"), ("batch", "one-hot"), ("epoch", "sparse")])
def test_class_weight_trains_as_model_fit_does(sc, digits, frequency, labels):
    import keras
    x, y = digits[0][:320], digits[2][:320]
    weights = {0: 3.0, 1: 0.5, 7: 2.0}  # classes missing from the map weigh 1
    loss = "sparse_categorical_crossentropy"
    if labels == "one-hot":
        y, loss = np.eye(10, dtype="float32")[y], "categorical_crossentropy"

    def model_():
        model = _model(keras.optimizers.Adam(0.01))
        model.compile(keras.optimizers.Adam(0.01), loss, metrics=["accuracy"])
        return model

    reference = model_()
    expected = reference.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0, class_weight=weights)
    model = model_()
    history = SparkModel(model, mode="synchronous", frequency=frequency, num_workers=1).fit(
        to_simple_rdd(sc, x, y, 1), epochs=2, batch_size=32, shuffle=False, class_weight=weights)
    gap = _relative_gap(model.get_weights(), reference.get_weights())
    assert gap < 1e-4, f"class_weight: weights differ from model.fit's by {gap:.2e}"
    unweighted = model_()
    SparkModel(unweighted, mode="synchronous", frequency=frequency, num_workers=1).fit(
        to_simple_rdd(sc, x, y, 1), epochs=2, batch_size=32, shuffle=False)
    assert _relative_gap(unweighted.get_weights(), reference.get_weights()) > 1e-3, "the weights changed training"
    assert history.history["loss"] == pytest.approx(expected.history["loss"], rel=1e-4)


@pytest.mark.parametrize("frequency", ["batch", "epoch"])
def test_sample_weights_in_the_rows_train_as_model_fit_does(sc, digits, frequency):
    import keras
    x, y = digits[0][:320], digits[2][:320]
    w = np.random.default_rng(4).uniform(0.0, 3.0, len(x)).astype("float32")

    def model_():
        model = _model(keras.optimizers.Adam(0.01))
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
        return model

    reference = model_()
    expected = reference.fit(x, y, sample_weight=w, batch_size=32, epochs=2, shuffle=False, verbose=0,
                             validation_split=0.25)
    model = model_()
    history = SparkModel(model, mode="synchronous", frequency=frequency, num_workers=1).fit(
        sc.parallelize(list(zip(x, y, w)), 1), epochs=2, batch_size=32, shuffle=False, validation_split=0.25)
    gap = _relative_gap(model.get_weights(), reference.get_weights())
    assert gap < 1e-4, f"sample weights: weights differ from model.fit's by {gap:.2e}"
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):  # weighted, on both splits
        assert history.history[key] == pytest.approx(expected.history[key], rel=1e-4), key


def test_sample_weights_and_class_weight_together_are_refused(sc, digits):
    from sparkeras.errors import ModelSpecError
    import keras
    rows = sc.parallelize([(digits[0][i], digits[2][i], 1.0) for i in range(64)], 1)
    with pytest.raises(ModelSpecError, match="class_weight"):
        SparkModel(_model(keras.optimizers.Adam(0.01)), num_workers=1).fit(rows, epochs=1, class_weight={0: 2.0})


def test_initial_epoch_resumes_a_stateless_optimizer_exactly(sc, digits):
    import keras
    x, y = digits[0][:320], digits[2][:320]
    reference = _model(keras.optimizers.SGD(0.05))
    reference.fit(x, y, batch_size=32, epochs=4, shuffle=False, verbose=0)
    model = _model(keras.optimizers.SGD(0.05))
    model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)  # the first two epochs, locally
    history = SparkModel(model, mode="synchronous", frequency="batch", num_workers=1).fit(
        to_simple_rdd(sc, x, y, 1), epochs=4, initial_epoch=2, batch_size=32, shuffle=False)
    assert history.epoch == [2, 3]
    assert _relative_gap(model.get_weights(), reference.get_weights()) < 1e-4
