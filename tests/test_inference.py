"""Distributed predict and evaluate equal the Keras model's own on the same weights."""
import numpy as np
import pytest

from sparkeras import SparkModel, to_simple_rdd


@pytest.fixture(scope="module")
def trained(sc, digits):
    from conftest import mlp
    x_train, x_test, y_train, y_test = digits
    model = mlp()
    model.fit(x_train, y_train, epochs=5, batch_size=32, verbose=0)
    return model


def test_predict_numpy_equals_keras(trained, digits, sc):
    x_test = digits[1]
    got = SparkModel(trained, num_workers=2).predict(x_test)
    assert got.shape == (len(x_test), 10)
    np.testing.assert_allclose(got, trained.predict(x_test, verbose=0), rtol=1e-5, atol=1e-6)


def test_predict_rdd_of_rows_keeps_order(trained, digits, sc):
    x_test = digits[1]
    rdd = sc.parallelize(list(x_test), 3)
    got = SparkModel(trained).predict(rdd)
    np.testing.assert_allclose(got, trained.predict(x_test, verbose=0), rtol=1e-5, atol=1e-6)


def test_evaluate_equals_keras_evaluate(trained, digits, sc):
    x_test, y_test = digits[1], digits[3]
    expected = trained.evaluate(x_test, y_test, batch_size=32, verbose=0)
    got = SparkModel(trained, num_workers=3).evaluate(x_test, y_test)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    as_dict = SparkModel(trained).evaluate(to_simple_rdd(sc, x_test, y_test, 4), return_dict=True)
    assert set(as_dict) == {"loss", "accuracy"}
    np.testing.assert_allclose([as_dict["loss"], as_dict["accuracy"]], expected, rtol=1e-5)


def test_evaluate_non_mean_metrics_exactly(sc, digits):
    """Precision/recall keep counts, not means; summing their states is still exact."""
    import keras
    x_train, x_test, y_train, y_test = digits
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[keras.metrics.Precision(), keras.metrics.Recall(), keras.metrics.AUC()])
    yb = (y_train % 2).astype("float32")[:, None]
    model.fit(x_train, yb, epochs=3, verbose=0)
    yt = (y_test % 2).astype("float32")[:, None]
    expected = model.evaluate(x_test, yt, verbose=0)
    got = SparkModel(model, num_workers=3).evaluate(x_test, yt)
    np.testing.assert_allclose(got, expected, rtol=1e-4)
