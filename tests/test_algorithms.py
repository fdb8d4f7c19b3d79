"""dist-keras's algorithms (DOWNPOUR, AGN, ADAG, DynSGD, AEASGD, EAMSGD, averaging, ensemble):
the choice and its defaults without Spark, then each trained on the digits with 4 workers at
once (tests/algorithms_job.py), and the choice on the Spark ML stages, saved and loaded."""
import numpy as np
import pytest

from conftest import run_job
from sparkeras.driver import algorithms
from sparkeras.errors import ModelSpecError

ALL = ["downpour", "agn", "adag", "dynsgd", "aeasgd", "eamsgd", "averaging", "ensemble"]
EPOCHS = 30
# Test accuracy on the digits' 450 held-out rows after 30 epochs with 4 workers; plain
# model.fit of this MLP reaches about 0.97.
BAR = 0.93


# ------------------------------------------------------------ the choice, without Spark

def test_each_algorithm_has_dist_keras_defaults():
    assert algorithms.resolve("downpour", "asynchronous").communication_window == 5
    assert algorithms.resolve("agn", "hogwild").communication_window == 12
    adag = algorithms.resolve("ADAG", "asynchronous")
    assert (adag.name, adag.communication_window, adag.params) == ("adag", 12, {"gamma": 1e-4})
    assert algorithms.resolve("dynsgd", "asynchronous").communication_window == 5
    aeasgd = algorithms.resolve("aeasgd", "asynchronous")
    assert (aeasgd.communication_window, aeasgd.params, aeasgd.alpha) == (32, {"rho": 5.0, "learning_rate": 0.1}, 0.5)
    eamsgd = algorithms.resolve("eamsgd", "asynchronous")
    assert eamsgd.params["momentum"] == 0.9 and eamsgd.alpha == pytest.approx(0.25)
    averaging = algorithms.resolve("averaging", "asynchronous")
    assert (averaging.frequency, averaging.communication_window) == ("epoch", 1)
    assert algorithms.resolve(None, "synchronous") is None
    custom = algorithms.resolve("aeasgd", "asynchronous", communication_window=8, rho=2, learning_rate=0.2)
    assert (custom.communication_window, custom.alpha) == (8, pytest.approx(0.4))


@pytest.mark.parametrize("call,message", [
    (lambda: algorithms.resolve("easgd", "asynchronous"), "algorithm must be one of downpour, agn, adag"),
    (lambda: algorithms.resolve("agn", "synchronous"), "runs in the asynchronous and hogwild modes"),
    (lambda: algorithms.resolve("agn", "asynchronous", frequency="epoch"), "leave frequency unset"),
    (lambda: algorithms.resolve("agn", "asynchronous", merge="sum"), "leave merge unset"),
    (lambda: algorithms.resolve("agn", "asynchronous", rho=2.0), "takes no rho; its parameters: none"),
    (lambda: algorithms.resolve("adag", "asynchronous", gamma=-1), "gamma must be a positive, finite number"),
    (lambda: algorithms.resolve("aeasgd", "asynchronous", rho=20.0), "rho * learning_rate (the elastic rate) must be in (0, 1)"),
    (lambda: algorithms.resolve("dynsgd", "asynchronous", communication_window=0), "communication_window must be"),
    (lambda: algorithms.resolve(None, "asynchronous", gamma=0.1), "gamma configure a distributed algorithm"),
])
def test_a_wrong_choice_names_what_is_wrong(call, message):
    with pytest.raises(ModelSpecError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        call()


def test_eamsgd_workers_train_with_nesterov_momentum(make_mlp):
    import json
    from sparkeras.driver import job_config
    from sparkeras.driver.job_config import FitArguments, TrainingSettings
    settings = TrainingSettings(algorithm=algorithms.resolve("eamsgd", "asynchronous", learning_rate=0.02))
    config = job_config.build(make_mlp(), settings, 4, FitArguments(epochs=2))
    optimizer = json.loads(config.compile_json)["optimizer"]["config"]
    assert (optimizer["learning_rate"], optimizer["momentum"], optimizer["nesterov"]) == (pytest.approx(0.02), 0.9, True)
    assert (config.algorithm, config.frequency, config.communication_window, config.delta_scale) == ("eamsgd", "batch", 32, 1.0)
    assert dict(config.algorithm_params) == {"rho": 5.0, "learning_rate": 0.02, "momentum": 0.9}
    assert config.optimizer_class == "delta"
    averaging = job_config.build(make_mlp(), TrainingSettings(algorithm=algorithms.resolve("averaging", "hogwild")), 4,
                                 FitArguments(epochs=2))
    assert averaging.delta_scale == 0.25  # the mean of the workers' models


# ------------------------------------------------------------ each algorithm, 4 workers on local[4]

@pytest.fixture(scope="module")
def trained():
    return run_job("algorithms_job.py", EPOCHS, *ALL, timeout=1500)


@pytest.mark.parametrize("name", ALL)
def test_each_algorithm_trains_the_digits_with_four_workers(trained, name):
    result = trained[name]
    assert result["accuracy"] >= BAR, f"{name}: test accuracy {result['accuracy']:.4f} < {BAR}"
    assert result["epochs"] == list(range(EPOCHS)) and result["loss"][-1] < result["loss"][0]
    assert result["algorithm"] == name and result["config"]["algorithm"] == name
    staleness = result["staleness"]
    assert len(staleness["pushes"]) == len(staleness["mean"]) == len(staleness["max"]) == EPOCHS
    if name == "ensemble":  # nothing is pushed: every worker keeps its own model
        assert sum(staleness["pushes"]) == 0 and result["applied_samples"] == 0
        return
    assert all(n > 0 for n in staleness["pushes"]), staleness["pushes"]
    assert all(0 <= m <= top for m, top in zip(staleness["mean"], staleness["max"]))
    # four workers pushing at once: some pushes were computed on weights others had moved
    assert max(staleness["max"]) >= 1, staleness
    assert result["applied_samples"] == EPOCHS * 1347  # every training row of every epoch, once


def test_the_window_sets_how_often_workers_push(trained):
    # per epoch: each worker's ~11 batches in windows of 5 (3 pushes), 12 (1 push) or 32 (1 push)
    pushes = {name: trained[name]["staleness"]["pushes"][1] for name in ("downpour", "agn", "aeasgd", "averaging")}
    assert pushes == {"downpour": 12, "agn": 4, "aeasgd": 4, "averaging": 4}, pushes


def test_the_ensemble_is_the_mean_of_its_members(trained):
    result = trained["ensemble"]
    assert result["members"] == 4
    assert result["ensemble_vs_mean"] < 1e-5
    assert result["members_differ"] > 1e-3, "each worker trains its own model"
    assert result["given_model_untouched"]
    assert result["accuracy"] >= max(result["member_accuracy"]) - 0.02, result
    assert result["loaded_ensemble_max_diff"] < 1e-6


def test_the_algorithm_is_saved_with_the_model(trained):
    loaded = trained["adag"]["loaded"]
    assert loaded["algorithm"] == "adag"
    config = loaded["config"]
    assert (config["algorithm"], config["gamma"], config["communication_window"]) == ("adag", 0.01, 7)
    assert "merge" not in config and "frequency" not in config


# ------------------------------------------------------------ the Spark ML estimators

def test_the_estimator_trains_with_an_algorithm_and_saves_it(spark, digits, make_mlp, tmp_path):
    from pyspark.ml.linalg import Vectors
    from sparkeras.ml import KerasEstimator, KerasModel
    x_train, x_test, y_train, y_test = digits
    frame = spark.createDataFrame([(Vectors.dense(r.tolist()), float(y)) for r, y in zip(x_train, y_train)],
                                  ["features", "label"])
    estimator = KerasEstimator(model=make_mlp(), algorithm="dynsgd", communicationWindow=3, epochs=15, numWorkers=2)
    fitted = estimator.fit(frame)
    assert fitted.history_params["algorithm"] == "dynsgd"
    assert fitted.history_params["algorithm_params"] == {"communication_window": 3}
    assert sum(fitted.history_params["staleness"]["pushes"]) > 0
    test = spark.createDataFrame([(Vectors.dense(r.tolist()), float(y)) for r, y in zip(x_test, y_test)],
                                 ["features", "label"])
    rows = fitted.transform(test).select("prediction", "label").collect()
    assert np.mean([r.prediction == r.label for r in rows]) >= 0.9
    estimator.write().overwrite().save(str(tmp_path / "estimator"))
    loaded = KerasEstimator.load(str(tmp_path / "estimator"))
    assert (loaded.getAlgorithm(), loaded.getOrDefault(loaded.communicationWindow)) == ("dynsgd", 3)
    assert loaded.chosen_algorithm() == estimator.chosen_algorithm()
    with pytest.raises(ModelSpecError, match="runs in the asynchronous and hogwild modes"):
        KerasEstimator(model=make_mlp(), algorithm="agn", mode="synchronous").fit(frame)
    ensemble = KerasEstimator(model=make_mlp(), algorithm="ensemble", epochs=10, numWorkers=2).fit(frame)
    assert len(ensemble.members) == 2
    ensemble.write().overwrite().save(str(tmp_path / "ensemble"))
    reloaded = KerasModel.load(str(tmp_path / "ensemble"))
    before = np.array([r.probability.toArray() for r in ensemble.transform(test).select("probability").collect()])
    after = np.array([r.probability.toArray() for r in reloaded.transform(test).select("probability").collect()])
    assert np.allclose(before, after, atol=1e-6)
    assert np.mean(np.argmax(after, axis=1) == y_test) >= 0.9


def test_the_scala_estimator_trains_an_ensemble(spark, digits, make_mlp, tmp_path):
    from py4j.protocol import Py4JJavaError
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import DataFrame
    from sparkeras.driver import bridge
    x_train, x_test, y_train, y_test = digits
    frame = spark.createDataFrame([(Vectors.dense(r.tolist()), float(y)) for r, y in zip(x_train, y_train)],
                                  ["features", "label"])
    model_file = str(tmp_path / "template.keras")
    make_mlp().save(model_file)

    def estimator():
        return (bridge.new_instance(spark.sparkContext, "sparkeras.ml.KerasEstimator").setModelFile(model_file)
                .setEpochs(10).setNumWorkers(2))
    fitted = estimator().setAlgorithm("ensemble").fit(frame._jdf)
    test = spark.createDataFrame([(Vectors.dense(r.tolist()),) for r in x_test], ["features"]).coalesce(1)
    rows = DataFrame(fitted.transform(test._jdf), spark).select("prediction").collect()
    accuracy = np.mean([r.prediction == y for r, y in zip(rows, y_test)])
    assert accuracy >= 0.9, accuracy
    with pytest.raises(Py4JJavaError, match="runs in the asynchronous and hogwild modes"):
        estimator().setAlgorithm("agn").setMode("synchronous").fit(frame._jdf)
