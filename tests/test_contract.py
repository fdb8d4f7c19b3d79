"""One Spark ML contract in both languages: the same Params, the same column handling,
the same predictions for the same weights, and saved models that load in either."""
import os
import shutil

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkeras import SparkModel
from sparkeras.driver import bridge
from sparkeras.ml import KerasEstimator, KerasModel
from sparkeras.ml.persistence import keras_to_bytes

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
PYTHON_ONLY = {"model", "buildFn", "modelParams", "customObjects", "callbacks"}
SCALA_ONLY = {"pythonExec", "modelBase64", "historyView"}  # how a Spark Connect client sends its model, gets its History
_PY_TYPES = {"toInt": "integer", "toFloat": "double", "toString": "string", "toListString": "string array"}
_SCALA_TYPES = {"IntParam": "integer", "LongParam": "integer", "DoubleParam": "double", "Param": "string",
                "StringArrayParam": "string array"}


def _scala_params(stage):
    out = {}
    for p in stage.params():
        default = stage.getDefault(p)
        value = default.get() if default.isDefined() else None
        if value is not None and not isinstance(value, (int, float, str)):
            value = list(value)
        out[p.name()] = (_SCALA_TYPES[p.getClass().getSimpleName()], value)
    return out


def _python_params(stage):
    out = {}
    for p in stage.params:
        kind = _PY_TYPES.get(getattr(p.typeConverter, "__name__", ""), "object")
        out[p.name] = (kind, stage.getOrDefault(p) if stage.hasDefault(p) else None)
    return out


@pytest.mark.parametrize("python_stage,scala_args", [
    (KerasEstimator, ("sparkeras.ml.KerasEstimator",)),
    (KerasModel, ("sparkeras.ml.KerasModel", "uid", bytearray(b""))),
])
def test_python_and_scala_params_have_the_same_names_types_and_defaults(sc, python_stage, scala_args):
    scala = _scala_params(bridge.new_instance(sc, *scala_args))
    python = _python_params(python_stage())
    assert set(python) - set(scala) == PYTHON_ONLY & set(python)
    assert set(scala) - set(python) == SCALA_ONLY & set(scala)
    for name in set(python) & set(scala):
        assert python[name][0] == scala[name][0], (name, python[name], scala[name])
        if name != "seed":  # Spark's default seed is a hash of the class name, in each language
            assert python[name][1] == scala[name][1], (name, python[name], scala[name])


def _frames(spark, digits):
    """The digits as every accepted column kind: Vector, array<float>, a number; double and integer labels."""
    x_train, x_test, y_train, y_test = digits

    def frame(x, y):
        return spark.createDataFrame(
            [(Vectors.dense(r.tolist()), r.tolist(), float(r.mean()), float(label), int(label), float(2 * r.mean() + 1))
             for r, label in zip(x, y)],
            T.StructType([T.StructField("vec", VectorUDT()), T.StructField("arr", T.ArrayType(T.FloatType())),
                          T.StructField("mean", T.DoubleType()), T.StructField("dlabel", T.DoubleType()),
                          T.StructField("ilabel", T.LongType()), T.StructField("target", T.DoubleType())])
        ).repartition(2)
    return frame(x_train, y_train).cache(), frame(x_test, y_test).cache()


def _classifier(make_mlp):
    return make_mlp()


def _regressor():
    import keras
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    m.compile(keras.optimizers.Adam(0.05), "mse")
    return m


CASES = [("vec", "dlabel", "classification"), ("arr", "ilabel", "classification"), ("mean", "target", "regression")]


@pytest.mark.parametrize("features,label,task", CASES)
def test_rdd_dataframe_and_scala_paths_take_the_same_columns_and_predict_alike(
        spark, digits, make_mlp, tmp_path, features, label, task):
    train, test = _frames(spark, digits)
    template = _regressor() if task == "regression" else _classifier(make_mlp)
    model_file = str(tmp_path / "template.keras")
    template.save(model_file)
    epochs = 8 if task == "classification" else 30

    # The DataFrame path (Python stages)
    fitted = KerasEstimator(model=template, featuresCol=features, labelCol=label, epochs=epochs, numWorkers=2,
                            mode="synchronous", frequency="batch", seed=1).fit(train)
    assert fitted.history["loss"][-1] < fitted.history["loss"][0]
    # The Scala stages, from the same DataFrame
    jest = (bridge.new_instance(spark.sparkContext, "sparkeras.ml.KerasEstimator").setModelFile(model_file)
            .setFeaturesCol(features).setLabelCol(label).setEpochs(epochs).setNumWorkers(2)
            .setMode("synchronous").setFrequency("batch"))
    jfitted = jest.fit(train._jdf)
    assert jfitted.getOrDefault(jfitted.getParam("task")) == task
    # The RDD path, from the same rows
    rdd = train.select(features, label).rdd.map(
        lambda r: (np.asarray(r[0].toArray() if hasattr(r[0], "toArray") else r[0], np.float32).reshape(-1), r[1]))
    rdd_model = template.__class__.from_config(template.get_config())
    rdd_model.compile(**{k: v for k, v in template.get_compile_config().items() if k in ("loss", "metrics")},
                      optimizer=template.optimizer.__class__.from_config(template.optimizer.get_config()))
    rdd_model.set_weights(template.get_weights())
    SparkModel(rdd_model, mode="synchronous", frequency="batch", num_workers=2).fit(rdd, epochs=epochs, seed=1)

    # The same weights through the three inference paths
    weights_model = fitted.keras_model
    py_out = fitted.transform(test)
    scala_model = bridge.new_instance(spark.sparkContext, "sparkeras.ml.KerasModel", "same-weights",
                                      bytearray(keras_to_bytes(weights_model)))
    scala_model.setFeaturesCol(features)
    scala_out = DataFrame(scala_model.transform(test._jdf), spark)
    assert dict(py_out.dtypes)["prediction"] == dict(scala_out.dtypes)["prediction"] == "double"
    rows = test.select(features).rdd.map(
        lambda r: np.asarray(r[0].toArray() if hasattr(r[0], "toArray") else r[0], np.float32).reshape(-1))
    raw = SparkModel(weights_model).predict(rows)
    order = F.monotonically_increasing_id()
    if task == "classification":
        assert dict(py_out.dtypes)["probability"] == dict(scala_out.dtypes)["probability"] == "vector"
        a = np.array([r[0].toArray() for r in py_out.withColumn("i", order).orderBy("i").select("probability").collect()])
        b = np.array([r[0].toArray() for r in scala_out.withColumn("i", order).orderBy("i").select("probability").collect()])
        np.testing.assert_allclose(a, raw, rtol=1e-5, atol=1e-6)
    else:
        a = np.array([r[0] for r in py_out.withColumn("i", order).orderBy("i").select("prediction").collect()])
        b = np.array([r[0] for r in scala_out.withColumn("i", order).orderBy("i").select("prediction").collect()])
        np.testing.assert_allclose(a, raw[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _golden_predictions(spark, digits, path):
    """(Python, Scala) probabilities of the model saved under `path`, on the digits test rows."""
    test = spark.createDataFrame([(Vectors.dense(r.tolist()),) for r in digits[1]], ["features"]).coalesce(1)
    py = KerasModel.load(path).transform(test).select("probability").collect()
    jmodel = spark.sparkContext._jvm.sparkeras.ml.KerasModel.load(path)
    sc_rows = DataFrame(jmodel.transform(test._jdf), spark).select("probability").collect()
    return np.array([r[0].toArray() for r in py]), np.array([r[0].toArray() for r in sc_rows])


@pytest.mark.parametrize("saved_by", ["python", "scala"])
def test_golden_model_directories_load_in_both_languages(spark, digits, saved_by):
    path = os.path.join(GOLDEN, f"saved_by_{saved_by}")
    py, scala = _golden_predictions(spark, digits, path)
    np.testing.assert_allclose(py, scala, rtol=1e-5, atol=1e-6)
    expected = np.load(os.path.join(GOLDEN, "expected_probabilities.npy"))
    np.testing.assert_allclose(py, expected, rtol=1e-5, atol=1e-6)
    assert (py.argmax(axis=1) == digits[3]).mean() > 0.9


def test_a_model_saved_now_by_each_language_loads_in_the_other(spark, digits, tmp_path):
    py_path, scala_path = str(tmp_path / "py"), str(tmp_path / "scala")
    KerasModel.load(os.path.join(GOLDEN, "saved_by_python")).write().overwrite().save(py_path)
    spark.sparkContext._jvm.sparkeras.ml.KerasModel.load(os.path.join(GOLDEN, "saved_by_scala")) \
        .write().overwrite().save(scala_path)
    for path in (py_path, scala_path):
        py, scala = _golden_predictions(spark, digits, path)
        np.testing.assert_allclose(py, scala, rtol=1e-5, atol=1e-6)


def make_golden(spark, digits):  # pragma: no cover - run by hand to refresh tests/golden
    from conftest import mlp
    model = mlp()
    model.fit(digits[0], digits[2], epochs=5, verbose=0)
    shutil.rmtree(GOLDEN, ignore_errors=True)
    fitted = KerasModel(model=model, task="classification")
    fitted.write().overwrite().save(os.path.join(GOLDEN, "saved_by_python"))
    j = spark.sparkContext._jvm.sparkeras.ml.KerasModel.load(os.path.join(GOLDEN, "saved_by_python"))
    j.write().overwrite().save(os.path.join(GOLDEN, "saved_by_scala"))
    np.save(os.path.join(GOLDEN, "expected_probabilities.npy"), model.predict(digits[1], verbose=0))
