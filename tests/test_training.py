"""End to end on a real local[2] SparkSession: every mode and frequency trains the
digits MLP through the JVM parameter server to a real accuracy."""
import numpy as np
import pytest

from sparkeras import SparkModel, to_simple_rdd

CASES = [
    ("synchronous", "batch"), ("synchronous", "epoch"),
    ("asynchronous", "batch"), ("asynchronous", "epoch"),
    ("hogwild", "batch"), ("hogwild", "epoch"),
]


@pytest.mark.parametrize("mode,frequency", CASES)
def test_every_mode_and_frequency_reaches_accuracy(sc, digits, make_mlp, mode, frequency):
    x_train, x_test, y_train, y_test = digits
    model = make_mlp()
    before = [w.copy() for w in model.get_weights()]
    rdd = to_simple_rdd(sc, x_train, y_train, num_partitions=2)
    spark_model = SparkModel(model, mode=mode, frequency=frequency, num_workers=2)

    history = spark_model.fit(rdd, epochs=15, batch_size=32, validation_split=0.1, seed=1)

    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 15 for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights())), "weights were not copied back"
    accuracy = float((model.predict(x_test, verbose=0).argmax(axis=1) == y_test).mean())
    assert accuracy >= 0.93, f"{mode}/{frequency}: test accuracy {accuracy:.3f}"


@pytest.mark.parametrize("mode", ["asynchronous", "hogwild"])
def test_overlapped_and_exact_per_batch_steps(sc, digits, make_mlp, mode):
    """overlap=True pushes each gradient while the next step computes, one own step behind;
    overlap=False (the default) waits for the weights first. Both apply every step once and train."""
    x_train, x_test, y_train, y_test = digits
    rdd = to_simple_rdd(sc, x_train, y_train, num_partitions=2)
    for overlap in (True, False):
        model = make_mlp()
        history = SparkModel(model, mode=mode, frequency="batch", num_workers=2, overlap=overlap).fit(
            rdd, epochs=10, batch_size=32, seed=4)
        assert history.params["local_staleness"] == (1 if overlap else 0)
        assert history.params["applied_samples"] == 10 * len(x_train), history.params
        assert sum(history.params["worker_steps"]) == 10 * sum(-(-n // 32) for n in (len(x_train) // 2,
                                                                                      len(x_train) - len(x_train) // 2))
        accuracy = float((model.predict(x_test, verbose=0).argmax(axis=1) == y_test).mean())
        assert accuracy >= 0.93, f"{mode}, overlap={overlap}: test accuracy {accuracy:.3f}"
    assert SparkModel(make_mlp(), overlap=True).get_config()["overlap"] is True
    assert "overlap" not in SparkModel(make_mlp()).get_config()
    with pytest.raises(Exception, match="overlap must be True or False"):
        SparkModel(make_mlp(), overlap="yes")


def test_communication_window_pushes_local_progress(sc, digits, make_mlp):
    x_train, x_test, y_train, y_test = digits
    model = make_mlp()
    spark_model = SparkModel(model, mode="asynchronous", frequency="batch", num_workers=2, communication_window=4)
    spark_model.fit(to_simple_rdd(sc, x_train, y_train, 2), epochs=12, batch_size=32, seed=2)
    accuracy = float((model.predict(x_test, verbose=0).argmax(axis=1) == y_test).mean())
    assert accuracy >= 0.93


def test_sgd_with_momentum_on_the_server(sc, digits, make_mlp):
    import keras
    x_train, x_test, y_train, y_test = digits
    model = make_mlp(optimizer=keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True))
    SparkModel(model, mode="synchronous", frequency="batch", num_workers=2).fit(
        to_simple_rdd(sc, x_train, y_train, 2), epochs=10, batch_size=32, seed=3)
    accuracy = float((model.predict(x_test, verbose=0).argmax(axis=1) == y_test).mean())
    assert accuracy >= 0.93


def test_uneven_partitions_train_synchronously(sc, digits, make_mlp):
    """Workers agree on one step count per epoch; the smaller partition wraps around."""
    x_train, x_test, y_train, y_test = digits
    model = make_mlp()
    import itertools
    rdd = to_simple_rdd(sc, x_train, y_train, 2).mapPartitionsWithIndex(
        lambda i, rows: rows if i == 0 else itertools.islice(rows, 150))
    sizes = rdd.glom().map(len).collect()
    assert sizes[1] == 150 and sizes[0] > 600
    history = SparkModel(model, mode="synchronous", frequency="batch", num_workers=2).fit(rdd, epochs=10, batch_size=32)
    # Both workers ran the larger partition's step count every epoch.
    assert history.params["worker_steps"] == [10 * -(-sizes[0] // 32)] * 2
    assert len(history.history["loss"]) == 10
    assert float((model.predict(x_test, verbose=0).argmax(axis=1) == y_test).mean()) >= 0.93


def test_custom_objects_reach_the_workers_and_failures_name_the_cause(sc, digits):
    import keras
    from sparkeras import TrainingFailed

    class Scale(keras.layers.Layer):  # defined here, so it is shipped by value to the workers
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    x_train, x_test, y_train, y_test = digits
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), Scale(2.0), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    rdd = to_simple_rdd(sc, x_train, y_train, 2)
    with pytest.raises(TrainingFailed, match=r"training failed on an executor \(partition \d, attempt 0\): ValueError: .*Scale"):
        SparkModel(model, num_workers=2).fit(rdd, epochs=1)
    spark_model = SparkModel(model, num_workers=2, custom_objects={"Scale": Scale})
    spark_model.fit(rdd, epochs=10, batch_size=32)
    assert spark_model.evaluate(x_test, y_test)[1] >= 0.93


@pytest.mark.parametrize("mode,frequency", [("asynchronous", "epoch"), ("synchronous", "batch")])
def test_batch_normalization_statistics_reach_the_master_model(sc, digits, mode, frequency):
    """The workers' moving mean and variance come back averaged by rows, so the returned
    model predicts with trained statistics, not with the initial zeros and ones."""
    import keras
    x_train, x_test, y_train, y_test = digits
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64), keras.layers.BatchNormalization(),
                              keras.layers.Activation("relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    bn = model.layers[1]
    spark_model = SparkModel(model, mode=mode, frequency=frequency, num_workers=2)
    spark_model.fit(to_simple_rdd(sc, x_train, y_train, 2), epochs=10, batch_size=32)
    mean, variance = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    # What the statistics should be: the first layer's outputs on the training data.
    hidden = x_train @ model.layers[0].kernel.numpy() + model.layers[0].bias.numpy()
    assert np.abs(mean).max() > 0.1 and np.abs(variance - 1).max() > 0.1, "the statistics were trained"
    assert np.corrcoef(mean, hidden.mean(axis=0))[0, 1] > 0.9, "they follow the data"
    _, accuracy = spark_model.evaluate(x_test, y_test)
    assert accuracy >= 0.93, accuracy
    assert np.mean(np.argmax(model.predict(x_test, verbose=0), 1) == y_test) >= 0.93, "the Keras model itself predicts well"
