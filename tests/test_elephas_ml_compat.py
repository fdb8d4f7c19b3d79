"""elephas's Spark ML and MLlib APIs, with `elephas` replaced by `sparkeras` in the imports."""
import numpy as np
import pytest


def _elephas_model():
    from tensorflow.keras.layers import Dense, Dropout
    from tensorflow.keras.models import Sequential
    import keras
    keras.utils.set_random_seed(0)
    model = Sequential()
    model.add(Dense(64, input_shape=(64,), activation="relu"))
    model.add(Dropout(0.1))
    model.add(Dense(10, activation="softmax"))
    return model


def test_elephas_estimator_in_a_pipeline(spark, digits):
    # elephas's ML README, renamed.
    from pyspark.ml import Pipeline
    from pyspark.mllib.evaluation import MulticlassMetrics
    from tensorflow.keras import optimizers

    from sparkeras.ml.adapter import to_data_frame
    from sparkeras.ml_model import ElephasEstimator

    x_train, x_test, y_train, y_test = digits
    sc = spark.sparkContext
    train_df = to_data_frame(sc, x_train, np.eye(10)[y_train], categorical=True)
    test_df = to_data_frame(sc, x_test, np.eye(10)[y_test], categorical=True)
    model = _elephas_model()
    opt_conf = optimizers.serialize(optimizers.Adam(learning_rate=0.003))

    estimator = ElephasEstimator()
    estimator.setFeaturesCol("features")
    estimator.setLabelCol("label")
    estimator.set_keras_model_config(model.to_json())
    estimator.set_categorical_labels(True)
    estimator.set_nb_classes(10)
    estimator.set_num_workers(2)
    estimator.set_epochs(15)
    estimator.set_batch_size(32)
    estimator.set_verbosity(0)
    estimator.set_validation_split(0.1)
    estimator.set_optimizer_config(opt_conf)
    estimator.set_mode("synchronous")
    estimator.set_loss("categorical_crossentropy")
    estimator.set_metrics(["acc"])

    fitted = Pipeline(stages=[estimator]).fit(train_df)
    prediction = fitted.transform(test_df)
    pnl = prediction.select("label", "prediction")
    prediction_and_label = pnl.rdd.map(lambda row: (float(np.argmax(row.prediction)), row.label))
    metrics = MulticlassMetrics(prediction_and_label)
    assert metrics.accuracy >= 0.9


def test_elephas_estimator_keyword_and_positional_forms(spark, digits):
    from sparkeras.ml.adapter import df_to_simple_rdd, from_data_frame, to_data_frame
    from sparkeras.ml_model import ElephasEstimator, ElephasTransformer

    x_train, _, y_train, _ = digits
    model = _elephas_model()
    model.compile("adam", "categorical_crossentropy")
    by_keywords = ElephasEstimator(keras_model_config=model.to_json(), loss="categorical_crossentropy",
                                   metrics=["acc"], epochs=2, mode="hogwild", nb_classes=10, categorical=True)
    positional = ElephasEstimator(model, epochs=3, batch_size=16)
    assert by_keywords.get_mode() == "hogwild" and by_keywords.get_epochs() == 2
    assert positional.get_epochs() == 3 and positional.get_keras_model_config() == model.to_json()
    positional.set_custom_objects({})

    df = to_data_frame(spark.sparkContext, x_train[:50], y_train[:50])
    x, y = from_data_frame(df, categorical=True, nb_classes=10)
    assert x.shape == (50, 64) and y.shape == (50, 10)
    first = df_to_simple_rdd(df, categorical=True, nb_classes=10).first()
    assert first[0].shape == (64,) and first[1].shape == (10,)
    transformer = positional.set_num_workers(2).fit(df)
    assert isinstance(transformer, ElephasTransformer)
    out = transformer.transform(df).select("prediction").first()[0]
    assert len(out) == 10


def test_mllib_model_on_labeled_points(spark, digits):
    from sparkeras.spark_model import SparkMLlibModel
    from sparkeras.utils.rdd_utils import encode_label, from_labeled_point, lp_to_simple_rdd, to_labeled_point

    x_train, x_test, y_train, y_test = digits
    sc = spark.sparkContext
    lp_rdd = to_labeled_point(sc, x_train, np.eye(10)[y_train], categorical=True)
    x, y = from_labeled_point(lp_rdd, categorical=True, nb_classes=10)
    assert x.shape == (len(x_train), 64) and y.shape == (len(x_train), 10)
    assert lp_to_simple_rdd(lp_rdd, True, 10).first()[1].shape == (10,)
    np.testing.assert_array_equal(encode_label(3, 5), [0, 0, 0, 1, 0])

    import keras
    model = _elephas_model()
    model.compile(keras.optimizers.Adam(0.003), "categorical_crossentropy", metrics=["acc"])
    mllib_model = SparkMLlibModel(model, frequency="epoch", mode="synchronous", num_workers=2)
    mllib_model.train(lp_rdd, epochs=15, batch_size=32, verbose=0, validation_split=0.1, categorical=True,
                      nb_classes=10)
    accuracy = float((mllib_model.predict(x_test).argmax(axis=1) == y_test).mean())
    assert accuracy >= 0.9
    assert mllib_model.predict(lp_rdd.first().features).shape == (10,)
