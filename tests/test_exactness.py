"""The server's optimizers do Keras's arithmetic: with one worker, synchronous/batch and no
shuffling, training gives the weights Keras's own model.fit(shuffle=False) gives on the same
data, to float32 rounding; a changed hyper-parameter fails the comparison."""
import numpy as np
import pytest

from sparkeras import SparkModel, to_simple_rdd

OPTIMIZERS = {
    "sgd": lambda k: k.optimizers.SGD(0.05),
    "sgd-momentum": lambda k: k.optimizers.SGD(0.05, momentum=0.8),
    "sgd-nesterov": lambda k: k.optimizers.SGD(0.05, momentum=0.8, nesterov=True),
    "adam": lambda k: k.optimizers.Adam(0.01, beta_1=0.85, beta_2=0.99, epsilon=1e-6),
    "adam-amsgrad": lambda k: k.optimizers.Adam(0.01, amsgrad=True),
    "rmsprop": lambda k: k.optimizers.RMSprop(0.005, rho=0.8),
    "rmsprop-momentum": lambda k: k.optimizers.RMSprop(0.002, momentum=0.5),
    "rmsprop-centered": lambda k: k.optimizers.RMSprop(0.002, centered=True, epsilon=1e-5),
    "adagrad": lambda k: k.optimizers.Adagrad(0.05, initial_accumulator_value=0.2),
}


def _model(optimizer):
    import keras
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="tanh"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer, "sparse_categorical_crossentropy")
    return model


def _relative_gap(a, b):
    return max(float(np.max(np.abs(x - y))) / max(float(np.max(np.abs(y))), 1e-12) for x, y in zip(a, b))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_server_optimizer_matches_keras_fit(sc, digits, name):
    import keras
    x, y = digits[0][:320], digits[2][:320]
    reference = _model(OPTIMIZERS[name](keras))
    reference.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)

    model = _model(OPTIMIZERS[name](keras))
    SparkModel(model, mode="synchronous", frequency="batch", num_workers=1).fit(
        to_simple_rdd(sc, x, y, 1), epochs=2, batch_size=32, shuffle=False)
    gap = _relative_gap(model.get_weights(), reference.get_weights())
    assert gap < 1e-4, f"{name}: weights differ from model.fit's by {gap:.2e} (relative)"
    moved = _relative_gap(model.get_weights(), _model(OPTIMIZERS[name](keras)).get_weights())
    assert moved > 1e-2, "training changed the weights"


def test_a_changed_hyper_parameter_fails_the_comparison(sc, digits):
    import keras
    x, y = digits[0][:320], digits[2][:320]
    reference = _model(keras.optimizers.RMSprop(0.005, rho=0.8))
    reference.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    model = _model(keras.optimizers.RMSprop(0.005, rho=0.81))
    SparkModel(model, mode="synchronous", frequency="batch", num_workers=1).fit(
        to_simple_rdd(sc, x, y, 1), epochs=2, batch_size=32, shuffle=False)
    assert _relative_gap(model.get_weights(), reference.get_weights()) > 1e-3
