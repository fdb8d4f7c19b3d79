"""Keras callbacks run on the driver as the parameter server completes epochs."""
import csv

import numpy as np
import pytest

from sparkeras import SparkModel, to_simple_rdd


@pytest.fixture(scope="module")
def rdd(sc, digits):
    x_train, _, y_train, _ = digits
    # Four times the rows, so that an epoch lasts longer than the callbacks' polling interval.
    return to_simple_rdd(sc, np.tile(x_train, (4, 1)), np.tile(y_train, 4), 2).cache()


def test_early_stopping_stops_every_worker_and_restores_the_best_weights(rdd, digits, make_mlp):
    import keras
    # No epoch improves the loss by 10: it stops where it stops under model.fit.
    def stopper_():
        return keras.callbacks.EarlyStopping(monitor="loss", min_delta=10, patience=1, restore_best_weights=True)
    reference = stopper_()
    make_mlp().fit(digits[0], digits[2], epochs=30, batch_size=32, callbacks=[reference], verbose=0)
    stopper = stopper_()
    model = make_mlp()
    history = SparkModel(model, mode="synchronous", frequency="batch", num_workers=2).fit(
        rdd, epochs=30, batch_size=32, callbacks=[stopper])
    assert stopper.stopped_epoch == reference.stopped_epoch > 0, (stopper.stopped_epoch, reference.stopped_epoch)
    # workers run at most one epoch ahead of the callbacks: epochs 0..stopped + 1 at most
    assert len(history.history["loss"]) <= reference.stopped_epoch + 2, f"trained {len(history.history['loss'])} of 30 epochs"
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), stopper.best_weights)), \
        "the best epoch's weights were restored"


def test_checkpoints_csv_logs_and_a_custom_callback_see_what_model_fit_gives(rdd, make_mlp, tmp_path):
    import keras
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, sorted(logs)))

    callbacks = [keras.callbacks.ModelCheckpoint(str(tmp_path / "epoch-{epoch:02d}.keras")),
                 keras.callbacks.ModelCheckpoint(str(tmp_path / "best.weights.h5"), monitor="val_loss",
                                                 save_best_only=True, save_weights_only=True),
                 keras.callbacks.CSVLogger(str(tmp_path / "log.csv")), Recorder()]
    model = make_mlp()
    history = SparkModel(model, mode="asynchronous", frequency="batch", num_workers=2).fit(
        rdd, epochs=3, batch_size=32, validation_split=0.1, callbacks=callbacks)
    assert [e for e, _ in seen] == [0, 1, 2]
    assert all(keys == ["accuracy", "loss", "val_accuracy", "val_loss"] for _, keys in seen), seen
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for epoch in (1, 2, 3):
        saved = keras.models.load_model(tmp_path / f"epoch-{epoch:02d}.keras")
        assert saved.count_params() == model.count_params()
    best = make_mlp()
    best.load_weights(tmp_path / "best.weights.h5")
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert np.allclose([float(r["loss"]) for r in rows], history.history["loss"], rtol=1e-5)


def test_learning_rate_callbacks_change_the_servers_optimizer(rdd, make_mlp):
    import keras
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10)
    model = make_mlp(optimizer=keras.optimizers.Adam(0.004))
    history = SparkModel(model, mode="synchronous", frequency="batch", num_workers=2).fit(
        rdd, epochs=3, batch_size=32, callbacks=[reduce])
    # Halved after each of the first two epochs (the third's change comes after training).
    assert history.params["server_learning_rate"] == pytest.approx(0.004 * 0.5 ** 2, rel=1e-5), history.params
    # Set once, before the first epoch: it must reach the server then.
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.0005 if epoch == 0 else lr)
    history = SparkModel(make_mlp(), mode="asynchronous", frequency="batch", num_workers=2).fit(
        rdd, epochs=3, batch_size=32, callbacks=[schedule])
    assert history.params["server_learning_rate"] == pytest.approx(0.0005, rel=1e-5), history.params


def test_callbacks_see_batch_normalization_statistics(rdd, digits):
    """EarlyStopping(restore_best_weights) sets every weight, the moving statistics too:
    they must be the trained ones at that epoch, not the initial zeros and ones."""
    import keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32), keras.layers.BatchNormalization(),
                              keras.layers.Activation("relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=50, restore_best_weights=True)
    SparkModel(model, mode="asynchronous", frequency="batch", num_workers=2).fit(
        rdd, epochs=3, batch_size=32, callbacks=[stopper])
    assert np.abs(model.layers[1].moving_mean.numpy()).max() > 0.1, "restored statistics are trained ones"
    _, x_test, _, y_test = digits
    assert np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test) >= 0.9


@pytest.fixture
def spark_console_bar(sc):
    """Spark's console progress bar on the test context (spark-shell and pyspark turn it on;
    the test session does not), removed again afterwards."""
    jsc = sc._jsc.sc()
    field = sc._jvm.java.lang.Class.forName("org.apache.spark.SparkContext").getDeclaredField("_progressBar")
    field.setAccessible(True)
    bar_class = sc._jvm.java.lang.Class.forName("org.apache.spark.ui.ConsoleProgressBar")
    args = sc._gateway.new_array(sc._jvm.java.lang.Object, 1)
    args[0] = jsc
    field.set(jsc, sc._jvm.scala.Some(bar_class.getConstructors()[0].newInstance(args)))
    yield jsc
    bar = jsc.progressBar()
    if bar.isDefined():
        bar.get().stop()
    field.set(jsc, getattr(getattr(sc._jvm.scala, "None$"), "MODULE$"))


@pytest.mark.parametrize("verbose", [1, 2])
def test_verbose_shows_keras_progress_bar_and_no_spark_bar(rdd, make_mlp, capsys, spark_console_bar, verbose):
    import keras
    bar_during_training = []

    class Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            bar_during_training.append(spark_console_bar.progressBar().isDefined())

    SparkModel(make_mlp(), mode="synchronous", frequency="batch", num_workers=2).fit(
        rdd, epochs=3, batch_size=32, verbose=verbose, validation_split=0.1, callbacks=[Watch()])
    out = capsys.readouterr().out
    rows = rdd.map(lambda r: 1).sum()
    steps = -(-int(rows * 0.9 / 2) // 32)  # per worker: the synchronous steps of the larger partition
    for epoch in (1, 2, 3):
        assert f"Epoch {epoch}/3" in out, out
    finals = [line for line in out.splitlines() if f"{steps}/{steps}" in line and "val_loss: " in line]
    assert len(finals) == 3, out  # one finished bar per epoch, with the epoch's logs
    assert all("loss: " in line and "accuracy: " in line and "/step" in line for line in finals)
    if verbose == 1:
        assert "━" in out  # Keras's bar itself
    else:
        assert "━" not in out  # verbose=2: one line per epoch
    assert "[Stage" not in out
    assert bar_during_training and not any(bar_during_training), "Spark's console bar was paused while training"
    assert spark_console_bar.progressBar().isDefined(), "and is back afterwards"


def test_tensorboard_writes_the_epoch_scalars_history_holds(rdd, make_mlp, tmp_path):
    import glob

    import keras
    import tensorflow as tf
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path))
    history = SparkModel(make_mlp(), mode="synchronous", frequency="batch", num_workers=2).fit(
        rdd, epochs=3, batch_size=32, validation_split=0.1, callbacks=[board])

    def scalars(run):
        found = {}
        for path in glob.glob(str(tmp_path / run / "events.out.tfevents.*")):
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    if not value.tag.startswith("epoch_"):
                        continue  # the model's config, written as text
                    found.setdefault(value.tag, []).append((event.step, float(tf.make_ndarray(value.tensor))))
        return found

    train, validation = scalars("train"), scalars("validation")
    for name, logged in (("epoch_loss", train), ("epoch_accuracy", train)):
        assert [step for step, _ in logged[name]] == [0, 1, 2], logged
        assert [v for _, v in logged[name]] == pytest.approx(history.history[name[len("epoch_"):]], rel=1e-5)
    assert [v for _, v in validation["epoch_loss"]] == pytest.approx(history.history["val_loss"], rel=1e-5)


def test_validation_data_is_evaluated_each_epoch_before_the_callbacks_see_it(rdd, make_mlp, digits):
    import keras
    _, x_test, _, y_test = digits
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, logs.get("val_loss"), self.model.evaluate(x_test, y_test, verbose=0)[0]))

    model = make_mlp()
    history = SparkModel(model, mode="synchronous", frequency="batch", num_workers=2).fit(
        rdd, epochs=4, batch_size=32, validation_data=(x_test, y_test), validation_freq=2, callbacks=[Recorder()])
    # model.fit's keys, and val_* only for the validated epochs (2 and 4)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2
    validated = [(epoch, val, now) for epoch, val, now in seen if val is not None]
    assert [epoch for epoch, _, _ in validated] == [1, 3]
    # each val_loss is the loss of the weights the callback saw for that epoch, on the validation data
    assert all(val == pytest.approx(now, rel=1e-5) for _, val, now in validated)
    assert history.history["val_loss"] == pytest.approx([val for _, val, _ in validated])
    # the workers held no rows back: every row was trained on (synchronous workers run the
    # larger partition's steps, so the smaller one wraps around and the count may be above)
    assert history.params["applied_samples"] >= 4 * rdd.count()


@pytest.mark.parametrize("mode", ["asynchronous", "synchronous"])
def test_terminate_on_nan_ends_a_diverging_fit_and_keeps_the_last_finite_weights(rdd, make_mlp, capsys, mode):
    import keras
    model = make_mlp(optimizer=keras.optimizers.SGD(1e12))  # diverges within a few steps
    SparkModel(model, mode=mode, frequency="batch", num_workers=2).fit(
        rdd, epochs=3, batch_size=32, callbacks=[keras.callbacks.TerminateOnNaN()])
    assert "Invalid loss, terminating training" in capsys.readouterr().out
    assert model.stop_training
    assert all(np.isfinite(w).all() for w in model.get_weights()), "the server refused the NaN update"


def test_a_diverging_fit_without_terminate_on_nan_fails_naming_the_step_and_the_remedies(rdd, make_mlp):
    import keras
    from sparkeras.errors import TrainingFailed
    with pytest.raises(TrainingFailed, match=r"FloatingPointError: the gradient of epoch 1, step \d+ holds NaN "
                                             r"or infinity.*clipnorm.*TerminateOnNaN"):
        SparkModel(make_mlp(optimizer=keras.optimizers.SGD(1e12)), mode="asynchronous", frequency="batch",
                   num_workers=2).fit(rdd, epochs=3, batch_size=32)


def test_initial_epoch_continues_the_epoch_count_as_model_fit_does(rdd, make_mlp):
    import keras
    begun = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            begun.append(epoch)

    history = SparkModel(make_mlp(), mode="synchronous", frequency="batch", num_workers=2).fit(
        rdd, epochs=5, initial_epoch=3, batch_size=32, validation_split=0.1, callbacks=[Recorder()])
    assert begun == [3, 4]
    assert history.epoch == [3, 4] and len(history.history["loss"]) == len(history.history["val_loss"]) == 2
    assert history.params["initial_epoch"] == 3
