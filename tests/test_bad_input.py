"""Bad input gets a clear error on the driver, before any training starts."""
import os

import keras
import numpy as np
import pytest

from sparkeras import ModelSpecError, SparkModel, to_simple_rdd


def test_unknown_mode_and_frequency(make_mlp):
    with pytest.raises(ModelSpecError, match="mode must be one of synchronous, asynchronous, hogwild; got 'async'"):
        SparkModel(make_mlp(), mode="async")
    with pytest.raises(ModelSpecError, match="frequency must be one of epoch, batch; got 'step'"):
        SparkModel(make_mlp(), frequency="step")


def test_uncompiled_model(sc, digits):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
    rdd = to_simple_rdd(sc, digits[0][:20], digits[2][:20])
    with pytest.raises(ModelSpecError, match="not compiled"):
        SparkModel(model).fit(rdd, epochs=1)


def test_feature_shape_mismatch(sc, digits, make_mlp):
    rdd = to_simple_rdd(sc, digits[0][:20, :32], digits[2][:20])
    with pytest.raises(ModelSpecError, match=r"features in the RDD have shape \(32,\) per row but the model expects \(64,\)"):
        SparkModel(make_mlp()).fit(rdd, epochs=1)


def test_one_hot_labels_with_sparse_loss(sc, digits, make_mlp):
    rdd = to_simple_rdd(sc, digits[0][:20], keras.utils.to_categorical(digits[2][:20], 10))
    with pytest.raises(ModelSpecError, match="expects one integer class per row"):
        SparkModel(make_mlp()).fit(rdd, epochs=1)


def test_class_index_out_of_range(sc, digits, make_mlp):
    rdd = to_simple_rdd(sc, digits[0][:20], np.full(20, 12))
    with pytest.raises(ModelSpecError, match=r"not a class index in \[0, 10\)"):
        SparkModel(make_mlp()).fit(rdd, epochs=1)


def test_integer_labels_with_categorical_loss(sc, digits, make_mlp):
    rdd = to_simple_rdd(sc, digits[0][:20], digits[2][:20])
    with pytest.raises(ModelSpecError, match="one-hot encode them"):
        SparkModel(make_mlp(loss="categorical_crossentropy")).fit(rdd, epochs=1)


def test_empty_rdd(sc, make_mlp):
    with pytest.raises(ModelSpecError, match="the RDD is empty"):
        SparkModel(make_mlp()).fit(sc.emptyRDD(), epochs=1)


def test_rdd_of_bare_features(sc, digits, make_mlp):
    with pytest.raises(ModelSpecError, match=r"RDD of \(features, label\) pairs"):
        SparkModel(make_mlp()).fit(sc.parallelize(list(digits[0][:10])), epochs=1)


def test_unsupported_server_optimizer_for_batch_frequency(sc, digits, make_mlp):
    rdd = to_simple_rdd(sc, digits[0][:20], digits[2][:20])
    class Tuned(keras.optimizers.SGD):  # a custom optimizer: its own step could be anything
        pass

    model = make_mlp(optimizer=Tuned())
    with pytest.raises(ModelSpecError, match=r"built-in Adadelta, .*, SGD; the model is compiled with .*Tuned.*frequency='epoch'"):
        SparkModel(model, frequency="batch").fit(rdd, epochs=1)


def test_synchronous_needs_no_more_workers_than_slots(sc, digits, make_mlp):
    rdd = to_simple_rdd(sc, digits[0][:40], digits[2][:40])
    with pytest.raises(ModelSpecError, match="num_workers=3 but the cluster has 2 task slots"):
        SparkModel(make_mlp(), mode="synchronous", num_workers=3).fit(rdd, epochs=1)


def test_bad_numbers(sc, digits, make_mlp):
    rdd = to_simple_rdd(sc, digits[0][:20], digits[2][:20])
    with pytest.raises(ModelSpecError, match="epochs must be a whole number of at least 1"):
        SparkModel(make_mlp()).fit(rdd, epochs=0)
    with pytest.raises(ModelSpecError, match=r"validation_split must be in \[0, 1\)"):
        SparkModel(make_mlp()).fit(rdd, epochs=1, validation_split=1.5)
    with pytest.raises(ModelSpecError, match="num_workers must be at least 1"):
        SparkModel(make_mlp(), num_workers=0)


def test_epochs_and_batch_size_must_be_whole_positive_numbers(sc, digits, make_mlp):
    rdd = to_simple_rdd(sc, digits[0][:20], digits[2][:20])
    with pytest.raises(ModelSpecError, match="epochs must be a whole number of at least 1; got 2.7"):
        SparkModel(make_mlp()).fit(rdd, epochs=2.7)
    with pytest.raises(ModelSpecError, match="batch_size must be a whole number of at least 1; got 0"):
        SparkModel(make_mlp()).fit(rdd, epochs=1, batch_size=0)


def test_nan_in_the_features_fails_the_fit_naming_the_row(sc, digits, make_mlp):
    from sparkeras import TrainingFailed
    x = digits[0][:200].copy()
    x[150, 5] = np.nan
    rdd = to_simple_rdd(sc, x, digits[2][:200], 1)
    with pytest.raises(TrainingFailed, match="ModelSpecError: NaN or infinity in the features at row 150"):
        SparkModel(make_mlp(), num_workers=1).fit(rdd, epochs=1)


def test_unknown_keyword_arguments_are_errors_that_name_them(sc, digits, make_mlp):
    x_train, x_test, y_train, y_test = digits
    rdd = to_simple_rdd(sc, x_train[:64], y_train[:64], 2)
    spark_model = SparkModel(make_mlp(), num_workers=2)
    with pytest.raises(ModelSpecError, match=r"steps_per_epoch: Keras's fit takes it, sparkeras does not support it yet"):
        spark_model.fit(rdd, epochs=1, steps_per_epoch=3)
    with pytest.raises(ModelSpecError, match=r"sample weights in the rows: give each row as \(features, label, weight\)"):
        spark_model.fit(rdd, epochs=1, sample_weight=np.ones(64))
    with pytest.raises(ModelSpecError, match=r"epoch: not an argument of fit\). It accepts: rdd, epochs"):
        spark_model.fit(rdd, epoch=1)
    with pytest.raises(ModelSpecError, match=r"sample_weight.*evaluate"):
        spark_model.evaluate(x_test, y_test, sample_weight=np.ones(len(y_test)))
    assert len(spark_model.evaluate(x_test[:20], y_test[:20], verbose=0)) == 2, "verbose is accepted, as in Keras"
    with pytest.raises(ModelSpecError, match=r"steps: Keras's predict takes it, sparkeras does not support it yet"):
        spark_model.predict(x_test, steps=2)
    with pytest.raises(ModelSpecError, match=r"callbacks: not an argument of predict\). It accepts: data, batch_size"):
        spark_model.predict(x_test, callbacks=[])
    assert spark_model.predict(x_test[:5], verbose=0).shape == (5, 10), "verbose is accepted, as in Keras"


def test_checkpoint_arguments_are_checked(sc, digits, make_mlp, tmp_path):
    x_train, _, y_train, _ = digits
    rdd = to_simple_rdd(sc, x_train[:64], y_train[:64], 2)
    with pytest.raises(ModelSpecError, match="checkpoint_every must be a whole number of at least 1"):
        SparkModel(make_mlp(), num_workers=2).fit(rdd, epochs=1, checkpoint_dir=str(tmp_path), checkpoint_every=0)


def test_a_checkpoint_of_another_job_is_refused_naming_what_differs(sc, digits, make_mlp, tmp_path):
    x_train, _, y_train, _ = digits
    rdd = to_simple_rdd(sc, x_train[:128], y_train[:128], 2)
    SparkModel(make_mlp(), num_workers=2).fit(rdd, epochs=2, batch_size=32, checkpoint_dir=str(tmp_path))
    assert sorted(n for n in os.listdir(tmp_path) if not n.startswith(".")) == \
        ["checkpoint-000001.pb", "checkpoint-000002.pb"]
    with pytest.raises(ModelSpecError, match=r"different training job.*batch_size: checkpoint 32, this fit 16"):
        SparkModel(make_mlp(), num_workers=2).fit(rdd, epochs=3, batch_size=16, checkpoint_dir=str(tmp_path))
    history = SparkModel(make_mlp(), num_workers=2).fit(rdd, epochs=3, batch_size=32, checkpoint_dir=str(tmp_path))
    assert history.params["initial_epoch"] == 2 and len(history.history["loss"]) == 3


def test_a_nan_label_in_the_first_row_is_named(sc, digits, make_mlp):
    x_train, _, y_train, _ = digits
    y = y_train[:20].astype("float64")
    y[0] = np.nan
    with pytest.raises(ModelSpecError, match=r"the first label in the RDD is \[nan\]: labels must be finite numbers"):
        SparkModel(make_mlp()).fit(to_simple_rdd(sc, x_train[:20], y), epochs=1)
