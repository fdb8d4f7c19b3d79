"""A worker's failure reaches the user as TrainingFailed naming the exception type, its
message and the partition, within seconds, in every mode."""
import os
import time

import pytest

from sparkeras import SparkModel, TrainingFailed, to_simple_rdd
from test_training import CASES


def _exploding_model(mark):
    import keras

    class Exploding(keras.layers.Layer):
        """Fails as soon as it is called for training, and notes when (on the executor)."""
        failed_at = mark

        def call(self, x, training=None):
            if training:
                with open(self.failed_at, "w") as f:
                    f.write(repr(time.time()))
                raise ValueError("custom layer exploded during training")
            return x

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), Exploding(), keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, {"Exploding": Exploding}


@pytest.mark.parametrize("mode,frequency", CASES)
def test_a_layer_that_raises_fails_the_fit_with_the_workers_own_error(sc, digits, tmp_path, mode, frequency):
    mark = str(tmp_path / "failed_at")
    model, custom = _exploding_model(mark)
    rdd = to_simple_rdd(sc, digits[0], digits[2], 2)
    with pytest.raises(TrainingFailed) as failure:
        SparkModel(model, mode=mode, frequency=frequency, num_workers=2, custom_objects=custom).fit(rdd, epochs=2)
    raised = time.time()
    e = failure.value
    assert e.exception_type == "ValueError", e
    assert "custom layer exploded during training" in e.worker_message
    assert e.partition in (0, 1) and e.attempt == 0
    assert "Traceback" in e.worker_traceback
    assert f"(partition {e.partition}, attempt 0): ValueError: " in str(e)
    with open(mark) as f:
        failed = float(f.read())
    print(f"{mode}/{frequency}: raised {raised - failed:.2f}s after the layer failed")
    assert raised - failed < 10.0


def test_a_worker_that_cannot_rebuild_the_model_is_reported_too(sc, digits, tmp_path):
    """The model's custom class is missing on the executors: the worker still reports."""
    model, _ = _exploding_model(str(tmp_path / "unused"))
    rdd = to_simple_rdd(sc, digits[0], digits[2], 2)
    with pytest.raises(TrainingFailed, match="ValueError: cannot rebuild the Keras model on this executor") as failure:
        SparkModel(model, mode="synchronous", frequency="batch", num_workers=2).fit(rdd, epochs=1)
    assert "Exploding" in str(failure.value) and failure.value.partition in (0, 1)
    assert os.path.exists(str(tmp_path)) and not os.path.exists(str(tmp_path / "unused"))
