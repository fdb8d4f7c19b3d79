"""elephas's public behaviour, item by item (issue 9), written from elephas's API and code:
what elephas code gets after replacing `elephas` with `sparkeras` in its imports."""
import json
import warnings

import numpy as np
import pytest


def _classifier(inputs=64, classes=10, seed=0):
    import keras
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(classes, activation="softmax")])
    return model


def _regressor(inputs=13, seed=0):
    import keras
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes
    d = load_diabetes()
    x = d.data.astype("float32") * 10
    y = (d.target / 100.0).astype("float32")
    return x[:350], y[:350], x[350:], y[350:]


# 1. Multi-input models on RDDs

def _two_input_model(widths):
    import keras
    keras.utils.set_random_seed(0)
    inputs = [keras.Input((w,)) for w in widths]
    merged = keras.layers.Concatenate()([keras.layers.Dense(8, activation="relu")(i) for i in inputs])
    model = keras.Model(inputs, keras.layers.Dense(1)(merged))
    model.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    return model


def test_multi_input_flat_rows_split_equally_as_elephas(sc):
    from sparkeras.spark_model import SparkModel
    from sparkeras.utils.rdd_utils import to_simple_rdd
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)).astype("float32")
    y = (x[:, :3].sum(1) - x[:, 3:].sum(1)).astype("float32")
    model = _two_input_model([3, 3])
    spark_model = SparkModel(model, mode="synchronous", num_workers=2)
    spark_model.fit(to_simple_rdd(sc, x, y), epochs=15, batch_size=32)
    predictions = spark_model.predict(sc.parallelize(list(x[:50])))
    assert isinstance(predictions, list) and len(predictions) == 50
    expected = model.predict(np.hsplit(x[:50], 2), verbose=0)
    np.testing.assert_allclose(np.asarray(predictions), expected, rtol=1e-4, atol=1e-5)
    loss, mae = spark_model.evaluate(x, y)  # a flat array is split across the inputs too
    assert loss == pytest.approx(model.evaluate(np.hsplit(x, 2), y, verbose=0)[0], rel=1e-4)
    assert mae < 0.9 * np.abs(y - y.mean()).mean()  # it learned something


def test_multi_input_tuple_rows_of_any_widths(sc):
    from sparkeras import SparkModel
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 5)).astype("float32"), rng.normal(size=(300, 2)).astype("float32")
    y = (a.sum(1) + 3 * b[:, 0]).astype("float32")
    model = _two_input_model([5, 2])
    rows = sc.parallelize([((a[i], b[i]), y[i]) for i in range(300)], 2)
    spark_model = SparkModel(model, num_workers=2)
    spark_model.fit(rows, epochs=10, batch_size=32)
    got = spark_model.predict([a, b])  # Keras's own form: one array per input
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, model.predict([a, b], verbose=0), rtol=1e-4, atol=1e-5)
    # flat rows of 7 values split by the inputs' widths
    np.testing.assert_allclose(spark_model.predict(np.hstack([a, b])), got, rtol=1e-5, atol=1e-6)
    assert spark_model.evaluate([a, b], y)[0] == pytest.approx(model.evaluate([a, b], y, verbose=0)[0], rel=1e-4)


def test_multi_input_rows_of_the_wrong_width_name_the_widths(sc):
    from sparkeras import SparkModel
    from sparkeras.errors import SparkerasError
    model = _two_input_model([5, 2])
    with pytest.raises(SparkerasError, match=r"6 feature values .* 5 \+ 2 = 7"):
        SparkModel(model).predict(np.zeros((4, 6), "float32"))


# 2. Regression output type

def test_elephas_transformer_writes_a_double_for_regression(spark, diabetes):
    from pyspark.ml.evaluation import RegressionEvaluator
    from pyspark.mllib.evaluation import RegressionMetrics
    from sparkeras.ml.adapter import to_data_frame
    from sparkeras.ml_model import ElephasEstimator
    import keras
    x, y, x_test, y_test = diabetes
    estimator = ElephasEstimator(labelCol="label", outputCol="prediction")
    estimator.set_keras_model_config(_regressor(10).to_json())
    estimator.set_optimizer_config(keras.optimizers.serialize(keras.optimizers.Adam(0.01)))
    estimator.set_loss("mse")
    estimator.set_metrics(["mae"])
    estimator.set_categorical_labels(False)
    estimator.set_epochs(20)
    estimator.set_num_workers(2)
    transformer = estimator.fit(to_data_frame(spark.sparkContext, x, y))
    out = transformer.transform(to_data_frame(spark.sparkContext, x_test, y_test))
    assert dict(out.dtypes)["prediction"] == "double"
    r2 = RegressionEvaluator(metricName="r2").evaluate(out)
    metrics = RegressionMetrics(out.select("prediction", "label").rdd.map(tuple))
    assert r2 == pytest.approx(metrics.r2, abs=1e-9) and r2 > 0.2
    assert isinstance(transformer.history, list) and len(transformer.history[0]["loss"]) == 20


# 3 and 4. Persistence, the elephas-built transformer, set_params, deprecations

def test_elephas_hdf5_files_and_loaders(tmp_path):
    import h5py
    from sparkeras.ml_model import ElephasEstimator, ElephasTransformer, load_ml_estimator, load_ml_transformer
    from sparkeras.utils.model_utils import ModelType
    model = _classifier()
    estimator = ElephasEstimator()
    estimator.set_keras_model_config(model.to_json())
    estimator.set_loss("categorical_crossentropy")
    estimator.set_mode("synchronous")
    estimator.save(str(tmp_path / "estimator.h5"))
    with h5py.File(tmp_path / "estimator.h5", "r") as f:
        stored = json.loads(f.attrs["distributed_config"])
    assert stored["class_name"] == "ElephasEstimator" and stored["config"]["mode"] == "synchronous"
    loaded = load_ml_estimator(str(tmp_path / "estimator.h5"))
    assert loaded.get_model().to_json() == model.to_json() and loaded.get_loss() == "categorical_crossentropy"
    assert loaded.get_num_workers() == 8  # elephas's default

    transformer = ElephasTransformer(keras_model_config=model.to_json(), weights=model.get_weights(),
                                     model_type=ModelType.CLASSIFICATION)
    transformer.save(str(tmp_path / "transformer.h5"))
    with h5py.File(tmp_path / "transformer.h5", "r") as f:
        stored = json.loads(f.attrs["distributed_config"])
    assert stored["config"]["model_type"] == {"__enum__": "ModelType.CLASSIFICATION"}  # elephas's encoding
    again = load_ml_transformer(str(tmp_path / "transformer.h5"))
    assert again.model_type == ModelType.CLASSIFICATION
    for a, b in zip(again.get_model().get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_elephas_built_transformer_transforms_and_takes_set_params(spark, digits):
    from sparkeras.ml.adapter import to_data_frame
    from sparkeras.ml_model import ElephasTransformer
    from sparkeras.utils.model_utils import ModelType
    x_train, x_test, y_train, y_test = digits
    model = _classifier()
    transformer = ElephasTransformer(keras_model_config=model.to_json(), weights=model.get_weights(),
                                     model_type=ModelType.CLASSIFICATION)
    df = to_data_frame(spark.sparkContext, x_test[:40], y_test[:40])
    first = transformer.transform(df)
    transformer.set_params(inference_batch_size=7, outputCol="batched")
    both = transformer.transform(first).collect()
    expected = model.predict(x_test[:40], verbose=0)
    np.testing.assert_allclose(np.array([r["prediction"] for r in both]), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array([r["batched"] for r in both]), expected, rtol=1e-5, atol=1e-6)


def test_deprecated_column_setters_warn_and_still_set():
    from sparkeras.ml_model import ElephasEstimator
    estimator = ElephasEstimator()
    for setter, value in (("setFeaturesCol", "scaled"), ("setLabelCol", "truth"), ("setOutputCol", "out")):
        with pytest.warns(DeprecationWarning, match="constructor"):
            getattr(estimator, setter)(value)
    assert (estimator.getFeaturesCol(), estimator.getLabelCol(), estimator.getOutputCol()) == ("scaled", "truth", "out")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ElephasEstimator(featuresCol="scaled")  # the recommended way does not warn


def test_pipeline_with_elephas_stages_saves_and_loads(spark, digits, tmp_path):
    import keras
    from pyspark.ml import Pipeline, PipelineModel
    from sparkeras.ml.adapter import to_data_frame
    from sparkeras.ml_model import ElephasEstimator
    x_train, x_test, y_train, y_test = digits
    estimator = ElephasEstimator(keras_model_config=_classifier().to_json(), loss="categorical_crossentropy",
                                 optimizer_config=keras.optimizers.serialize(keras.optimizers.Adam(0.01)),
                                 epochs=5, batch_size=32, num_workers=2, nb_classes=10, mode="synchronous")
    pipeline = Pipeline(stages=[estimator])
    pipeline.save(str(tmp_path / "pipeline"))
    reloaded = Pipeline.load(str(tmp_path / "pipeline"))
    assert reloaded.getStages()[0].get_epochs() == 5 and reloaded.getStages()[0].get_mode() == "synchronous"
    fitted = reloaded.fit(to_data_frame(spark.sparkContext, x_train, y_train))
    test_df = to_data_frame(spark.sparkContext, x_test, y_test)
    fitted.save(str(tmp_path / "fitted"))
    again = PipelineModel.load(str(tmp_path / "fitted"))
    a = np.array([r["prediction"] for r in fitted.transform(test_df).collect()])
    b = np.array([r["prediction"] for r in again.transform(test_df).collect()])
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert (a.argmax(1) == y_test).mean() > 0.85


# 5. Modules and names

def test_elephas_param_mixins_have_elephas_defaults():
    from sparkeras.ml.params import (HasBatchSize, HasCategoricalLabels, HasEpochs, HasFrequency, HasMode,
                                     HasNumberOfClasses, HasNumberOfWorkers, HasValidationSplit, HasVerbosity)
    defaults = {HasMode: ("get_mode", "asynchronous"), HasFrequency: ("get_frequency", "epoch"),
                HasNumberOfClasses: ("get_nb_classes", 10), HasCategoricalLabels: ("get_categorical_labels", True),
                HasEpochs: ("get_epochs", 10), HasBatchSize: ("get_batch_size", 32), HasVerbosity: ("get_verbosity", 0),
                HasValidationSplit: ("get_validation_split", 0.1), HasNumberOfWorkers: ("get_num_workers", 8)}
    for mixin, (getter, value) in defaults.items():
        assert getattr(mixin(), getter)() == value, mixin.__name__


def test_mllib_adapter_round_trips():
    from pyspark.mllib.linalg import Matrices
    from sparkeras.mllib.adapter import from_matrix, from_vector, to_matrix, to_vector
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(from_matrix(to_matrix(x)), x)  # MLlib is column-major; the values keep their places
    np.testing.assert_array_equal(from_matrix(Matrices.dense(1, 2, [13, 37])), [[13, 37]])
    np.testing.assert_array_equal(from_vector(to_vector(np.ones(3))), np.ones(3))
    with pytest.raises(ValueError, match="two-dimensional"):
        to_matrix(np.ones(3))


def test_parameter_clients_construct_and_refuse_with_the_sparkeras_way():
    from sparkeras.parameter import BaseParameterClient, HttpClient, SocketClient
    assert type(BaseParameterClient.get_client("http", 4000)) is HttpClient
    client = BaseParameterClient.get_client("socket", 4001)
    assert type(client) is SocketClient and client.master_url.endswith(":4001")
    with pytest.raises(NotImplementedError, match="master_network.get_weights"):
        client.get_parameters()
    with pytest.raises(ValueError, match="'http' or 'socket'"):
        BaseParameterClient.get_client("carrier-pigeon")


# 6. Return types

def test_return_types_and_saved_class(sc, digits, tmp_path):
    import keras
    import sparkeras
    from sparkeras.spark_model import SparkMLlibModel, SparkModel, load_spark_model
    x_train, x_test, y_train, y_test = digits
    model = _classifier()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    listed = SparkModel(model).predict(x_test[:5])
    assert isinstance(listed, list) and len(listed) == 5 and listed[0].shape == (10,)
    assert isinstance(sparkeras.SparkModel(model).predict(x_test[:5]), np.ndarray)
    SparkMLlibModel(model, mode="synchronous").save(str(tmp_path / "m.h5"))
    loaded = load_spark_model(str(tmp_path / "m.h5"))
    assert type(loaded) is SparkMLlibModel and loaded.mode == "synchronous"
    assert type(sparkeras.load_spark_model(str(tmp_path / "m.h5"))) is sparkeras.SparkMLlibModel
    assert isinstance(loaded.master_network, keras.Model)


# 7. Inputs elephas and Keras accept

def test_scalar_feature_rows_for_a_one_feature_model(sc):
    import keras
    from sparkeras.spark_model import SparkModel
    from sparkeras.utils.rdd_utils import to_simple_rdd
    rng = np.random.default_rng(0)
    x = rng.random(200).astype("float32")
    y = (x > 0.5).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(1.0), "binary_crossentropy", metrics=["acc"])
    spark_model = SparkModel(model, frequency="epoch", mode="synchronous", num_workers=2)
    spark_model.fit(to_simple_rdd(sc, x, y), epochs=30, batch_size=16)
    assert len(spark_model.predict(x[:10])) == 10
    loss, acc = spark_model.evaluate(x, y)
    assert acc > 0.8


def test_labels_shaped_n_by_1_under_numpy_2(sc):
    from sparkeras.ml.adapter import to_data_frame
    from sparkeras.utils.rdd_utils import to_labeled_point
    features, labels = np.ones((2, 10)), np.asarray([[2.0], [1.0]])
    assert to_labeled_point(sc, features, labels, False).first().label == 2.0
    assert [r["label"] for r in to_data_frame(sc, features, labels, categorical=False).collect()] == [2.0, 1.0]


def test_class_index_labels_with_a_categorical_loss_on_keras_estimator(spark, digits):
    import keras
    from sparkeras.ml import KerasEstimator
    from sparkeras.ml.adapter import to_data_frame
    x_train, x_test, y_train, y_test = digits
    model = _classifier()
    model.compile(keras.optimizers.Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
    df = to_data_frame(spark.sparkContext, x_train, y_train)  # label: a class index, as a double
    fitted = KerasEstimator(model=model, epochs=8, numWorkers=2).fit(df)
    accuracy = fitted.evaluate(to_data_frame(spark.sparkContext, x_test, y_test))
    assert accuracy["accuracy"] > 0.85
    bad = to_data_frame(spark.sparkContext, x_train[:20], np.full(20, 12.0))
    with pytest.raises(Exception, match=r"12.0, which is not a class index in \[0, 10\)"):
        KerasEstimator(model=model, epochs=1, numWorkers=1).fit(bad)


def test_metrics_as_compiles_third_argument_is_named_before_training(sc):
    import keras
    from sparkeras.errors import ModelSpecError
    from sparkeras.spark_model import SparkModel
    from sparkeras.utils.rdd_utils import to_simple_rdd
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(), "binary_crossentropy", ["acc"])  # Keras 2 style
    with pytest.raises(ModelSpecError, match=r"loss_weights=\['acc'\].*metrics=\['acc'\]"):
        SparkModel(model).fit(to_simple_rdd(sc, np.zeros((8, 3)), np.zeros(8)), epochs=1)


# 8. SQL on Vector columns

def test_sql_udf_on_vector_columns(spark):
    import keras
    import sparkeras
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.linalg import Vectors
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).random((9, 3)).astype("float32")
    df = spark.createDataFrame([tuple(map(float, r)) for r in x], "a double, b double, c double")
    VectorAssembler(inputCols=["a", "b", "c"], outputCol="v").transform(df).createOrReplaceTempView("assembled")
    spark.createDataFrame([(Vectors.sparse(3, [1], [2.0]),)], ["v"]).createOrReplaceTempView("sparse_rows")
    sparkeras.register_udf(spark, "vector_model", model)
    got = np.array([r[0] for r in spark.sql("SELECT vector_model(v) FROM assembled").collect()])
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    sparse = np.array(spark.sql("SELECT vector_model(v) FROM sparse_rows").collect()[0][0])
    np.testing.assert_allclose(sparse, model.predict(np.array([[0, 2, 0]], "float32"), verbose=0)[0], rtol=1e-5)
