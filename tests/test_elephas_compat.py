"""Code written for elephas runs after replacing `elephas` with `sparkeras` in its imports."""
import numpy as np
import pytest


def test_elephas_readme_flow(sc, digits):
    # elephas's README, with its imports renamed and digits in place of MNIST.
    from tensorflow.keras.models import Sequential
    from tensorflow.keras.layers import Dense, Dropout, Activation
    from tensorflow.keras.optimizers import SGD
    from tensorflow.keras.utils import to_categorical

    from sparkeras.utils.rdd_utils import to_simple_rdd
    from sparkeras.spark_model import SparkModel

    x_train, x_test, y_train, y_test = digits
    model = Sequential()
    model.add(Dense(128, input_dim=64))
    model.add(Activation("relu"))
    model.add(Dropout(0.2))
    model.add(Dense(128))
    model.add(Activation("relu"))
    model.add(Dropout(0.2))
    model.add(Dense(10))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.1), metrics=["acc"])

    rdd = to_simple_rdd(sc, x_train, to_categorical(y_train, 10))
    spark_model = SparkModel(model, frequency="epoch", mode="asynchronous")
    spark_model.fit(rdd, epochs=20, batch_size=32, verbose=0, validation_split=0.1)

    loss, acc = spark_model.evaluate(x_test, to_categorical(y_test, 10))
    assert acc >= 0.9
    predictions = spark_model.predict(x_test)
    assert float((np.argmax(predictions, axis=1) == y_test).mean()) == pytest.approx(acc, abs=1e-6)


def test_elephas_module_paths_and_seven_style_arguments(sc, digits, make_mlp):
    from sparkeras.spark_model import AsynchronousSparkModel, SparkModel, load_spark_model  # noqa: F401
    from sparkeras.utils.rdd_utils import to_simple_rdd

    model = make_mlp()
    spark_model = AsynchronousSparkModel(model, mode="hogwild", frequency="batch", parameter_server_mode="http",
                                         num_workers=2, port=4000, batch_size=32)
    assert spark_model.mode == "hogwild" and spark_model.port == 4000
    x_train, x_test, y_train, y_test = digits
    spark_model.fit(to_simple_rdd(sc, x_train, y_train), epochs=10, batch_size=32)
    assert spark_model.evaluate(x_test, y_test)[1] >= 0.9
    with pytest.raises(ValueError, match="AsynchronousSparkModel runs mode"):
        AsynchronousSparkModel(model, mode="synchronous")
