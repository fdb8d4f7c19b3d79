"""Spark ML stages on DataFrames: training from the executors, transform through Arrow,
pipelines with persistence, tuning, SQL inference and exact distributed evaluate."""
import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import MulticlassClassificationEvaluator, RegressionEvaluator
from pyspark.ml.linalg import Vectors

from sparkeras import ModelSpecError
from sparkeras.ml import KerasEstimator, KerasModel


@pytest.fixture(scope="module")
def frames(spark, digits):
    x_train, x_test, y_train, y_test = digits
    train = spark.createDataFrame([(Vectors.dense(x.tolist()), float(y)) for x, y in zip(x_train, y_train)],
                                  ["features", "label"]).repartition(2).cache()
    test = spark.createDataFrame([(Vectors.dense(x.tolist()), float(y)) for x, y in zip(x_test, y_test)],
                                 ["features", "label"]).cache()
    return train, test


def _accuracy(predictions):
    return MulticlassClassificationEvaluator(metricName="accuracy").evaluate(predictions)


@pytest.mark.parametrize("mode,frequency", [("synchronous", "batch"), ("asynchronous", "epoch")])
def test_estimator_trains_from_a_dataframe(frames, make_mlp, mode, frequency):
    train, test = frames
    estimator = KerasEstimator(model=make_mlp(), epochs=15, batchSize=32, mode=mode, frequency=frequency,
                               numWorkers=2, seed=1)
    model = estimator.fit(train)
    assert isinstance(model, KerasModel) and len(model.history["loss"]) == 15
    out = model.transform(test)
    assert {"prediction", "probability"} <= set(out.columns)
    assert set(test.columns) <= set(out.columns)
    assert _accuracy(out) >= 0.93


def test_transform_equals_keras_predict(frames, make_mlp, digits):
    train, test = frames
    model = KerasEstimator(model=make_mlp(), epochs=3, numWorkers=2).fit(train)
    rows = model.transform(test).select("probability", "prediction").collect()
    expected = model.keras_model.predict(digits[1], verbose=0)
    got = np.array([r["probability"].toArray() for r in rows])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert [r["prediction"] for r in rows] == list(expected.argmax(axis=1).astype(float))


def test_each_fit_trains_a_fresh_copy(frames, make_mlp):
    template = make_mlp()
    before = [w.copy() for w in template.get_weights()]
    KerasEstimator(model=template, epochs=1, numWorkers=2).fit(frames[0])
    for a, b in zip(before, template.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_array_columns_and_regression(spark, digits):
    import keras
    x_train = digits[0]
    # a regression target: the mean pixel value
    df = spark.createDataFrame([(x.tolist(), float(x.mean())) for x in x_train], ["pixels", "brightness"])
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    net.compile(keras.optimizers.Adam(0.01), "mse")
    model = KerasEstimator(model=net, featuresCol="pixels", labelCol="brightness", epochs=20, numWorkers=2).fit(df)
    out = model.transform(df)
    assert dict(out.dtypes)["prediction"] == "double"
    rmse = RegressionEvaluator(labelCol="brightness", metricName="rmse").evaluate(out)
    assert rmse < 0.05, rmse


def test_multi_input_model_from_two_columns(spark, digits):
    import keras
    x_train, x_test, y_train, y_test = digits
    df = spark.createDataFrame([(x[:32].tolist(), x[32:].tolist(), float(y)) for x, y in zip(x_train, y_train)],
                               ["top", "bottom", "label"])
    keras.utils.set_random_seed(0)
    a, b = keras.Input((32,)), keras.Input((32,))
    h = keras.layers.Dense(64, activation="relu")(keras.layers.Concatenate()([a, b]))
    net = keras.Model([a, b], keras.layers.Dense(10, activation="softmax")(h))
    net.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model = KerasEstimator(model=net, featuresCol=["top", "bottom"], epochs=15, numWorkers=2).fit(df)
    test = spark.createDataFrame([(x[:32].tolist(), x[32:].tolist(), float(y)) for x, y in zip(x_test, y_test)],
                                 ["top", "bottom", "label"])
    assert _accuracy(model.transform(test)) >= 0.93


def test_pipeline_saves_and_loads_with_identical_predictions(spark, frames, make_mlp, tmp_path):
    from pyspark.ml.feature import StandardScaler
    train, test = frames
    scaler = StandardScaler(inputCol="features", outputCol="scaled")
    estimator = KerasEstimator(model=make_mlp(), featuresCol="scaled", epochs=5, numWorkers=2)
    fitted = Pipeline(stages=[scaler, estimator]).fit(train)
    path = "file://" + str(tmp_path / "pipeline")
    fitted.write().overwrite().save(path)
    loaded = PipelineModel.load(path)
    a = fitted.transform(test).select("probability").collect()
    b = loaded.transform(test).select("probability").collect()
    np.testing.assert_array_equal(np.array([r[0].toArray() for r in a]), np.array([r[0].toArray() for r in b]))
    assert loaded.stages[-1].getFeaturesCol() == "scaled"


def test_estimator_persists(frames, make_mlp, tmp_path):
    estimator = KerasEstimator(model=make_mlp(), epochs=7, batchSize=48, mode="hogwild")
    path = str(tmp_path / "estimator")
    estimator.save(path)
    loaded = KerasEstimator.load(path)
    assert (loaded.getEpochs(), loaded.getBatchSize(), loaded.getMode()) == (7, 48, "hogwild")
    for a, b in zip(estimator.getOrDefault("model").get_weights(), loaded.getOrDefault("model").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_distributed_evaluate_is_exact(frames, make_mlp, digits):
    train, test = frames
    model = KerasEstimator(model=make_mlp(), epochs=3, numWorkers=2).fit(train)
    expected = model.keras_model.evaluate(digits[1], digits[3], verbose=0, return_dict=True)
    got = model.evaluate(test.repartition(3))
    assert set(got) == set(expected)
    for k in expected:
        assert got[k] == pytest.approx(expected[k], rel=1e-5)


def test_sql_inference_equals_transform(spark, frames, make_mlp, digits):
    import sparkeras
    train, test = frames
    model = KerasEstimator(model=make_mlp(), epochs=2, numWorkers=2).fit(train)
    spark.createDataFrame([(i, x.tolist()) for i, x in enumerate(digits[1])], ["id", "pixels"]).createOrReplaceTempView("digits")
    sparkeras.register_udf(spark, "digit_probabilities", model)
    rows = spark.sql("SELECT id, digit_probabilities(pixels) AS p FROM digits ORDER BY id").collect()
    expected = np.array([r["probability"].toArray() for r in model.transform(test).select("probability").collect()])
    np.testing.assert_allclose(np.array([r["p"] for r in rows]), expected, rtol=1e-5, atol=1e-6)


def test_cross_validator_chooses_among_real_fits(spark, frames):
    import time
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
    from conftest import mlp
    train, test = frames
    estimator = KerasEstimator(buildFn=lambda hidden: mlp(hidden=hidden), numWorkers=2, batchSize=32)
    grid = (ParamGridBuilder()
            .addGrid(estimator.modelParams, [{"hidden": 4}, {"hidden": 64}])
            .addGrid(estimator.epochs, [1, 8])
            .build())
    cv = CrossValidator(estimator=estimator, estimatorParamMaps=grid, numFolds=3, parallelism=2,
                        evaluator=MulticlassClassificationEvaluator(metricName="accuracy"), seed=7)
    started = time.time()
    cv_model = cv.fit(train)
    seconds = time.time() - started
    best = int(np.argmax(cv_model.avgMetrics))
    print(f"CrossValidator 2x2 grid x 3 folds: {seconds:.1f}s, avg accuracy {np.round(cv_model.avgMetrics, 4)}, "
          f"best {grid[best]}")
    assert grid[best][estimator.modelParams] == {"hidden": 64} and grid[best][estimator.epochs] == 8
    assert min(cv_model.avgMetrics) < 0.8 < max(cv_model.avgMetrics)
    assert _accuracy(cv_model.transform(test)) >= 0.93


def test_learning_rate_and_train_validation_split(spark, frames):
    from pyspark.ml.tuning import ParamGridBuilder, TrainValidationSplit
    from conftest import mlp
    train, _ = frames
    estimator = KerasEstimator(buildFn=lambda: mlp(), numWorkers=2, epochs=3)
    grid = ParamGridBuilder().addGrid(estimator.learningRate, [1e-7, 3e-3]).build()
    tvs = TrainValidationSplit(estimator=estimator, estimatorParamMaps=grid, trainRatio=0.75,
                               evaluator=MulticlassClassificationEvaluator(metricName="accuracy"))
    fitted = tvs.fit(train)
    assert fitted.validationMetrics[1] > fitted.validationMetrics[0] + 0.3


def test_dataframe_errors_name_the_column(spark, frames, make_mlp):
    train, _ = frames
    with pytest.raises(ModelSpecError, match="feature column 'pixels' is not in the DataFrame"):
        KerasEstimator(model=make_mlp(), featuresCol="pixels").fit(train)
    with pytest.raises(ModelSpecError, match="label column 'target' is not in the DataFrame"):
        KerasEstimator(model=make_mlp(), labelCol="target").fit(train)
    bad = spark.createDataFrame([("a", 1.0)], ["features", "label"])
    with pytest.raises(ModelSpecError, match="feature column 'features' has type string"):
        KerasEstimator(model=make_mlp()).fit(bad)
    narrow = spark.createDataFrame([(Vectors.dense([0.0] * 10), 1.0)], ["features", "label"])
    with pytest.raises(ModelSpecError, match="holds 10 values per row but the model input 0 expects shape \\(64,\\)"):
        KerasEstimator(model=make_mlp()).fit(narrow)
    wrong_label = spark.createDataFrame([(Vectors.dense([0.0] * 64), 12.0)], ["features", "label"])
    with pytest.raises(ModelSpecError, match="not a class index"):
        KerasEstimator(model=make_mlp()).fit(wrong_label)
    with pytest.raises(ModelSpecError, match="the DataFrame is empty"):
        KerasEstimator(model=make_mlp()).fit(train.limit(0))


def test_callbacks_param_runs_keras_callbacks_and_is_not_saved(frames, make_mlp, tmp_path):
    import keras
    train, _ = frames
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, sorted(logs)))

    stopper = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10, patience=1)
    estimator = KerasEstimator(model=make_mlp(), epochs=20, batchSize=32, numWorkers=2, mode="synchronous",
                               frequency="batch", validationSplit=0.1, callbacks=[Recorder(), stopper])
    fitted = estimator.fit(train)
    assert stopper.stopped_epoch > 0 and len(seen) == stopper.stopped_epoch + 1
    assert seen[0] == (0, ["accuracy", "loss", "val_accuracy", "val_loss"])
    assert len(fitted.history["loss"]) < 20
    estimator.write().overwrite().save(str(tmp_path / "estimator"))
    assert not KerasEstimator.load(str(tmp_path / "estimator")).isSet("callbacks")


def test_learning_rate_param_on_a_scheduled_optimizer_is_a_clear_error(frames, make_mlp):
    import keras
    from sparkeras.errors import ModelSpecError
    model = make_mlp(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.01, 10, 0.5)))
    with pytest.raises(ModelSpecError, match="compiled with a learning-rate schedule"):
        KerasEstimator(model=model, learningRate=0.1, epochs=1).fit(frames[0])


def test_spark_ml_evaluators_work_with_their_defaults(spark, frames, make_mlp, digits):
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    train, test = frames
    out = KerasEstimator(model=make_mlp(), epochs=8, numWorkers=2).fit(train).transform(test)
    assert MulticlassClassificationEvaluator().evaluate(out) > 0.9  # f1 on prediction and label
    assert [c for c in out.columns if c in ("rawPrediction", "probability", "prediction")] == \
        ["rawPrediction", "probability", "prediction"]  # Spark ML's order
    # a binary task (is the digit a 0?), with a one-unit sigmoid output
    import keras
    keras.utils.set_random_seed(0)
    binary = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                               keras.layers.Dense(1, activation="sigmoid")])
    binary.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    zero_train = train.selectExpr("features", "CAST(label = 0 AS double) AS label")
    zero_test = test.selectExpr("features", "CAST(label = 0 AS double) AS label")
    fitted = KerasEstimator(model=binary, epochs=5, numWorkers=2).fit(zero_train)
    auc = BinaryClassificationEvaluator().evaluate(fitted.transform(zero_test))  # areaUnderROC on rawPrediction
    assert auc > 0.98
    # a column named "" is left out, as in Spark ML
    fitted.setRawPredictionCol("").setProbabilityCol("")
    assert set(fitted.transform(zero_test).columns) == {"features", "label", "prediction"}


def test_history_survives_save_and_load_in_both_languages(spark, make_mlp, tmp_path):
    from pyspark.sql import DataFrame
    model = KerasModel(model=make_mlp())
    model.history = {"loss": [1.0, float("nan"), 0.5], "accuracy": [0.1, 0.2]}  # a diverged epoch; a short metric
    model.save(str(tmp_path / "python"))
    assert KerasModel.load(str(tmp_path / "python")).history == {"loss": [1.0, None, 0.5], "accuracy": [0.1, 0.2]}
    scala = spark.sparkContext._jvm.sparkeras.ml.KerasModel.load(str(tmp_path / "python"))
    rows = DataFrame(scala.historyFrame(spark._jsparkSession), spark).orderBy("epoch").collect()
    assert [(r.epoch, r.loss, r.accuracy) for r in rows] == [(0, 1.0, 0.1), (1, None, 0.2), (2, 0.5, None)]
    scala.write().overwrite().save(str(tmp_path / "scala"))
    back = KerasModel.load(str(tmp_path / "scala"))
    assert back.history["accuracy"] == [0.1, 0.2] and back.history["loss"][0::2] == [1.0, 0.5]
    assert back.history["loss"][1] is None
    frame = back.historyFrame().orderBy("epoch").collect()
    assert [r.epoch for r in frame] == [0, 1, 2] and frame[1].loss is None
